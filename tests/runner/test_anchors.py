"""edit_score's label-free calibration uses only the run's own reference cells."""

import pandas as pd
import pytest

from sine_bench.metrics import edit_score as es
from sine_bench.metrics.registry import check_metric_name
from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.plan import build_plan
from sine_bench.runner.scoring import RESAMPLE
from tests.fakes import register_fakes
from tests.helpers import anchored_inputs, scored_image, write_protocol

SCORE = "edit_score[test-fake+test-fake]"


def _plan(tmp_path, seeds):
    register_fakes()
    tmp_path.mkdir()
    path = write_protocol(tmp_path, metrics=["psnr", SCORE], grid={"seeds": seeds})
    return build_plan(load_protocol(path))


def test_anchors_are_the_runs_own_references_over_its_seeds(tmp_path):
    plan = _plan(tmp_path / "two", [0, 1])
    for entry in plan.cells:
        anchors = entry.anchors
        assert set(anchors) == {"pretrained", "finetuned"}
        assert all(len(keys) == 2 for keys in anchors.values())  # one per seed of the run
        for kind, job_kind in (("pretrained", "reference"), ("finetuned", "memorized")):
            jobs = [plan.edits[k] for k in anchors[kind]]
            assert {j.kind for j in jobs} == {job_kind}
            assert sorted(j.settings["seed"] for j in jobs) == [0, 1]
            mine = plan.edits[entry.edit].settings
            for job in jobs:  # same size and sampler as the cell, any seed
                for key in ("height", "width", "steps", "guidance", "eta"):
                    assert job.settings[key] == mine[key]
        assert {plan.edits[k].prompt for k in anchors["pretrained"]} == {entry.cell.prompt}
        assert {plan.edits[k].finetune for k in anchors["finetuned"]} == {entry.finetune}
    # other metrics' cells do not gain a reference column or score key entry
    assert all(e.reference is None and e.memorized is None for e in plan.cells)
    one = _plan(tmp_path / "one", [0])
    firsts = {e.edit: e.anchors for e in one.cells}
    shared = [e for e in plan.cells if e.edit in firsts]
    assert len(shared) == len(one.cells)  # the same cells (seed 0) ...
    for entry in shared:  # ... calibrated by their run's seeds only
        assert all(len(keys) == 1 for keys in firsts[entry.edit].values())
        assert firsts[entry.edit] != entry.anchors


@pytest.mark.usefixtures("one_thread")
def test_run_scores_each_cell_from_its_stored_references_alone(tmp_path):
    """Recomputed from the run's own stored reference images (and nothing else), each
    cell's score equals the one the run reported; a grid with v = 1 gives a = 1 there."""
    from sine_bench.runner.run import run_protocol

    register_fakes()
    path = write_protocol(tmp_path, metrics=[SCORE], grid={"seeds": [0, 1]})
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    cells = pd.read_parquet(out / "cells.parquet")
    plan = build_plan(load_protocol(path))
    store = tmp_path / "store" / "edits"
    name = check_metric_name(SCORE)
    column = "edit_score[test-fake+lpips-test-fake]"  # the column names the LPIPS that ran
    assert cells[column].notna().all()
    resample = RESAMPLE[plan.protocol.scoring.resample]
    for entry in plan.cells:
        row = cells[cells.edit_key == entry.edit].iloc[0]
        item = plan.items[entry.cell.item]
        source = scored_image(item.image_path)
        size = tuple(source.shape[-2:])  # scoring.size: source

        def load(key, size=size):
            return scored_image(store / key[:2] / key / "edit.png", size, resample)

        x = anchored_inputs(
            source, scored_image(out / row["image"], size, resample), entry, item, load
        )
        assert es.edit_score(name, x) == pytest.approx(row[column], abs=1e-6)


def test_every_method_shares_the_same_two_anchors(tmp_path):
    """A baseline without a fine-tune of its own (sdedit) is calibrated by the same two
    references as SINE's cells of its source, prompt, size and seed: the pretrained-only
    edit and SINE's fine-tuned-only sample (the protocol's fine-tune), so scores compare."""
    register_fakes()
    path = write_protocol(
        tmp_path,
        metrics=[SCORE],
        grid={"seeds": [0, 1]},
        methods={"sine": {}, "sdedit": {"grid": {"strength": [0.3, 0.6]}}},
    )
    plan = build_plan(load_protocol(path))
    by_method: dict[str, dict[tuple, dict]] = {}
    for entry in plan.cells:
        ident = (entry.cell.item, entry.cell.prompt, entry.cell.height, entry.cell.width)
        by_method.setdefault(entry.cell.method, {})[ident] = entry.anchors
    assert set(by_method) == {"sine", "sdedit"}
    for ident, anchors in by_method["sdedit"].items():
        assert anchors == by_method["sine"][ident]
        assert all(len(keys) == 2 for keys in anchors.values())
        assert {plan.edits[k].kind for k in anchors["finetuned"]} == {"memorized"}
