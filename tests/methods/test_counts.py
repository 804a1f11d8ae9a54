"""Each method's UNet-evaluation count (what ``plan`` prints and the manifest records)
equals the rows the UNet is really called on, counted by wrapping diffusers'
``UNet2DConditionModel.forward`` itself."""

import pytest
from diffusers import UNet2DConditionModel

from sine_bench.methods import get_method
from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.context import RunContext
from sine_bench.runner.executors import LocalExecutor
from sine_bench.runner.finetune_stage import FinetuneStage
from sine_bench.runner.plan import build_plan, unet_evaluations
from sine_bench.runner.store import Store
from sine_bench.sine import EvaluationCounter
from tests.helpers import write_protocol

METHODS = {
    "sine": {"grid": {"v": [0.5, 1.0], "K": [0, 400, 800], "finetune.method": ["sine-full"]}},
    "pretrained": {},
    "dreambooth": {"grid": {"guidance": [1.0, 3.0], "finetune.method": ["sine-full", "sine-lora"]}},
    "sdedit": {"grid": {"strength": [0.0, 0.3, 1.0], "guidance": [1.0, 3.0]}},
    "ddim-inversion": {"grid": {"guidance": [1.0, 3.0], "null_text_steps": [0, 2]}},
    "imagic": {
        "knobs": {"embed_steps": 2, "finetune_steps": 2, "finetune_lr": 1e-4},
        "grid": {"eta": [0.0, 1.0], "guidance": [1.0, 3.0]},
    },
}


@pytest.fixture(scope="module")
def counted(tmp_path_factory, one_thread):
    """Per unit: (method, planned shared count, UNet rows seen, the runtime counter)."""
    tmp = tmp_path_factory.mktemp("counts")
    grid = {"v": None, "K": None, "resolution": ["64x96"], "seeds": [0]}
    path = write_protocol(tmp, grid=grid, methods=METHODS, edit={"steps": 5}, metrics=[])
    plan = build_plan(load_protocol(path))
    ctx = RunContext(plan, Store(tmp / "store"), LocalExecutor(progress=False))
    FinetuneStage(ctx).run()
    rows = [0]
    forward = UNet2DConditionModel.forward

    def counting_forward(self, sample, *args, **kwargs):
        rows[0] += sample.shape[0]
        return forward(self, sample, *args, **kwargs)

    out = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(UNet2DConditionModel, "forward", counting_forward)
        for unit in plan.units:
            rows[0] = 0
            counter = EvaluationCounter()
            get_method(unit.sampler).run_unit(ctx.models, list(unit.jobs), counter)
            planned = unet_evaluations(unit.jobs)["shared"]
            out.append((unit.sampler, planned, rows[0], counter.total))
    return out


@pytest.mark.parametrize("method", ["sine", "dreambooth", "sdedit", "ddim-inversion", "imagic"])
def test_planned_evaluations_are_the_unet_rows(counted, method):
    units = [u for u in counted if u[0] == method]
    assert units, f"no unit of {method}"
    for _, planned, rows, runtime in units:
        assert planned == rows == runtime
    assert sum(u[2] for u in units) > 0


def test_pretrained_edits_are_counted_as_sine_grid_sampler_units(counted, tmp_path):
    # the pretrained method's edits are sampled by SINE's grid sampler (sampler 'sine')
    grid = {"v": None, "K": None, "resolution": ["64x96"], "seeds": [0]}
    path = write_protocol(tmp_path, grid=grid, methods={"pretrained": {}}, edit={"steps": 5})
    plan = build_plan(load_protocol(path))
    assert {u.sampler for u in plan.units} == {"sine"}
    # 2 evaluations per step, 5 steps, one edit per prompt (3 prompts)
    assert sum(unet_evaluations(u.jobs)["shared"] for u in plan.units) == 3 * 5 * 2
