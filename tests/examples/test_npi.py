"""negative-prompt-inversion (examples/sine-bench-examples) on the toy model.

Without an edit (the target is the source's own description), the negative prompt is
the positive one, so guidance cancels: at w = 5 NPI keeps the w = 1 reconstruction,
which is exactly ddim-inversion's at w = 1, where ddim-inversion's own w = 5 (the empty
negative prompt) drifts. Its planned UNet evaluations are the rows the UNet sees.
"""

from __future__ import annotations

import pytest
from diffusers import UNet2DConditionModel

from tests.examples.helpers import NPI, require_examples
from tests.helpers import write_protocol
from tests.methods.helpers import load01, psnr, run_toy, toy_dataset

SEEDS = [20_003_000, 20_003_001]


@pytest.fixture(scope="module")
def npi_registered():
    """The method as a protocol finds it: through the installed package's entry point."""
    require_examples()


@pytest.fixture(scope="module")
def reconstructions(tmp_path_factory, one_thread, npi_registered):
    """{(method, guidance): [PSNR to the source per scene]}."""
    tmp = tmp_path_factory.mktemp("npi")
    data = toy_dataset(tmp / "data", SEEDS, edit=False)
    methods = {
        NPI: {"grid": {"guidance": [1.0, 5.0]}},
        "ddim-inversion": {"grid": {"guidance": [1.0, 5.0]}},
    }
    cells, out = run_toy(tmp, data, methods, seeds=[0], metrics=["psnr"])
    found = {}
    for _, row in cells.sort_values("item").iterrows():
        source = load01(out / "images" / "source" / f"{row['item']}.png")
        found.setdefault((row["method"], row["guidance"]), []).append(
            psnr(load01(out / row["image"]), source)
        )
    return found


def test_guidance_cancels_without_an_edit(reconstructions):
    npi1, npi5 = reconstructions[(NPI, 1.0)], reconstructions[(NPI, 5.0)]
    plain1, plain5 = (
        reconstructions[("ddim-inversion", 1.0)],
        reconstructions[("ddim-inversion", 5.0)],
    )
    print(f"npi w=1 {npi1}, w=5 {npi5}; ddim-inversion w=1 {plain1}, w=5 {plain5} (dB)")
    assert npi1 == plain1  # the same computation at w = 1
    assert all(abs(a - b) < 0.5 for a, b in zip(npi5, npi1, strict=True))
    assert sum(npi5) / len(npi5) > sum(plain5) / len(plain5) + 1.0


def test_planned_evaluations_are_the_unet_rows(tmp_path, one_thread, npi_registered):
    from sine_bench.methods import get_method
    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.context import RunContext
    from sine_bench.runner.executors import LocalExecutor
    from sine_bench.runner.plan import build_plan, unet_evaluations
    from sine_bench.runner.store import Store
    from sine_bench.sine import EvaluationCounter

    grid = {"v": None, "K": None, "resolution": ["64x96"], "seeds": [0, 1]}
    methods = {NPI: {"grid": {"guidance": [1.0, 3.0]}}}
    path = write_protocol(tmp_path, grid=grid, methods=methods, edit={"steps": 3}, metrics=[])
    plan = build_plan(load_protocol(path))
    ctx = RunContext(plan, Store(tmp_path / "store"), LocalExecutor(progress=False))
    rows = [0]
    forward = UNet2DConditionModel.forward

    def counting_forward(self, sample, *args, **kwargs):
        rows[0] += sample.shape[0]
        return forward(self, sample, *args, **kwargs)

    units = [u for u in plan.units if u.sampler == NPI]
    # one inversion per source serves both guidances and all its prompts; seeds share edits
    assert len(units) == len({c.cell.item for c in plan.cells})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(UNet2DConditionModel, "forward", counting_forward)
        for unit in units:
            rows[0], counter = 0, EvaluationCounter()
            get_method(NPI).run_unit(ctx.models, list(unit.jobs), counter)
            planned = unet_evaluations(unit.jobs)
            assert planned["shared"] == rows[0] == counter.total
            assert planned["naive"] > planned["shared"]
