"""dreambooth edits with SINE's stored fine-tune (its key, never a second training),
prompted with the target prompt in the fine-tune's rare-token vocabulary."""

import json

from sine_bench.methods.dreambooth import identifier, rare_token_prompt
from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.plan import build_plan
from tests.helpers import write_protocol
from tests.methods.helpers import run_small

TEMPLATE = "a photo of a sks {class_word}"


def test_the_target_prompt_gets_the_rare_token_before_its_subject():
    assert identifier(TEMPLATE) == "sks" and identifier("{class_word}") == ""
    source = "a large blue circle on a red background"
    assert (
        rare_token_prompt("a large blue circle on a green background", source, "circle", TEMPLATE)
        == "a large blue sks circle on a green background"
    )
    # the subject's shape is what the edit changes: the token goes before the new shape
    assert (
        rare_token_prompt("a large blue diamond on a red background", source, "circle", TEMPLATE)
        == "a large blue sks diamond on a red background"
    )
    # nothing to anchor it to: the training prompt leads
    assert (
        rare_token_prompt("a red square", "", "circle", TEMPLATE)
        == "a photo of a sks circle, a red square"
    )
    assert rare_token_prompt("a red circle", source, "circle", "{class_word}") == "a red circle"


def test_dreambooth_and_sine_plan_one_finetune_per_image(tmp_path):
    path = write_protocol(tmp_path, methods={"sine": {}, "dreambooth": {}})
    plan = build_plan(load_protocol(path))
    assert len(plan.finetunes) == len(plan.items)
    for method in ("sine", "dreambooth"):
        used = {c.finetune for c in plan.cells if c.cell.method == method}
        assert used == set(plan.finetunes)
    prompts = {plan.edits[c.edit].prompt for c in plan.cells if c.cell.method == "dreambooth"}
    assert "a large blue sks circle on a red background" in prompts


def test_dreambooth_after_sine_trains_nothing(tmp_path):
    grid = {"v": None, "K": None, "resolution": ["64x96"], "seeds": [0]}
    store = str(tmp_path / "shared-store")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, sine_run = run_small(tmp_path / "a", methods={"sine": {}}, grid=grid, store=store)
    cells, run = run_small(tmp_path / "b", methods={"dreambooth": {}}, grid=grid, store=store)
    sine = json.loads((sine_run / "manifest.json").read_text())["stages"]["fine-tune"]
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    assert sine["computed"] == 2
    assert stages["fine-tune"]["computed"] == 0 and stages["fine-tune"]["cached"] == 2
    assert stages["fine-tune"]["training_steps"] == 0
    assert stages["edit"]["computed"] == len(cells) == 3
    assert set(cells["method"]) == {"dreambooth"}
