"""A protocol's methods section: each method over its own grid, the protocol's generic
sweeps for all, knob columns empty for the other methods, tables per method."""

import json

import pandas as pd

from sine_bench import compare as gate
from sine_bench.protocol.cells import axis_labels
from sine_bench.protocol.loading import load_protocol
from sine_bench.protocol.method_checks import SHIPPED_METHODS
from sine_bench.runner.plan import build_plan
from tests.helpers import write_protocol


def _plan(tmp_path, methods, **overrides):
    grid = {"v": None, "K": None, "resolution": ["64x96"], "seeds": [0, 1]}
    grid |= overrides.pop("grid", {})
    return build_plan(
        load_protocol(write_protocol(tmp_path, methods=methods, grid=grid, **overrides))
    )


def test_each_method_sweeps_its_own_grid_and_the_generic_axes(tmp_path):
    methods = {
        "sine": {"grid": {"v": [0.3, 0.6], "K": [400]}},
        "sdedit": {"grid": {"strength": [0.2, 0.4, 0.8], "guidance": [2.0]}},
        "pretrained": None,
    }
    plan = _plan(tmp_path, methods)
    protocol = plan.protocol
    assert axis_labels(protocol) == [
        "method",
        "v",
        "K",
        "resolution",
        "seed",
        "sdedit.strength",
        "guidance",
    ]
    prompts = sum(len(i.spec.prompts) for i in plan.items.values())
    by_method = {}
    for entry in plan.cells:
        by_method.setdefault(entry.cell.method, []).append(entry.cell)
    # per method: its settings x 2 seeds x every prompt
    assert {m: len(c) for m, c in by_method.items()} == {
        "sine": 2 * 2 * prompts,
        "sdedit": 3 * 2 * prompts,
        "pretrained": 2 * prompts,
    }
    sdedit = by_method["sdedit"][0]
    assert dict(sdedit.knobs) == {"strength": 0.2} and sdedit.edit.guidance == 2.0
    # a guidance swept for sdedit alone is still every other method's setting
    assert {dict(c.axes)["guidance"] for c in by_method["sine"]} == {protocol.edit.guidance}
    assert "sdedit.strength" not in dict(by_method["sine"][0].axes)


def test_method_overrides_and_fixed_knobs_apply_to_that_method_only(tmp_path):
    methods = {
        "sine": {"knobs": {"v": 0.2}},
        "ddim-inversion": {"edit": {"steps": 7}, "knobs": {"null_text_steps": 3}},
    }
    plan = _plan(tmp_path, methods)
    sine = next(c.cell for c in plan.cells if c.cell.method == "sine")
    inversion = next(c.cell for c in plan.cells if c.cell.method == "ddim-inversion")
    assert sine.edit.v == 0.2 and sine.edit.steps == plan.protocol.edit.steps
    assert inversion.edit.steps == 7 and dict(inversion.knobs)["null_text_steps"] == 3
    job = plan.edits[next(c.edit for c in plan.cells if c.cell.method == "ddim-inversion")]
    assert job.settings["null_text_steps"] == 3 and "seed" not in job.settings


def test_method_values_are_stored_as_their_fields_parse_them(tmp_path):
    """As in the grid section, '6' for an integer field is 6 (not a string in the key)."""
    as_text = {"sdedit": {"edit": {"steps": "6"}, "grid": {"guidance": ["2.5", 4]}}}
    as_numbers = {"sdedit": {"edit": {"steps": 6}, "grid": {"guidance": [2.5, 4.0]}}}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    text_plan, number_plan = _plan(tmp_path / "a", as_text), _plan(tmp_path / "b", as_numbers)
    cells = [c.cell for c in text_plan.cells]
    assert {c.edit.steps for c in cells} == {6} and {c.edit.guidance for c in cells} == {2.5, 4.0}
    assert sorted(text_plan.edits) == sorted(number_plan.edits)


def test_the_methods_shorthand_lists_names_at_their_defaults(tmp_path):
    plan = _plan(tmp_path, ["pretrained", "sdedit"])
    assert [m for m in plan.protocol.methods] == ["pretrained", "sdedit"]
    assert dict(next(c.cell for c in plan.cells if c.cell.method == "sdedit").knobs) == {
        "strength": 0.75
    }


def test_a_methods_run_has_per_method_tables_and_passes_compare(methods_run, tmp_path):
    _, out = methods_run
    cells = pd.read_parquet(out / "cells.parquet")
    # every shipped method but the diffusers-pipeline editor (it needs a checkpoint)
    assert set(cells["method"]) == set(SHIPPED_METHODS) - {"diffusers-pipeline"}
    sine = cells[cells["method"] == "sine"]
    sdedit = cells[cells["method"] == "sdedit"]
    assert sine["sdedit.strength"].isna().all() and sdedit["v"].isna().all()
    assert set(sdedit["sdedit.strength"]) == {0.3, 1.0}
    for column in ("cost.train_steps", "cost.unet_evaluations", "cost.edit_seconds"):
        assert cells[column].notna().all(), column
    assert (cells.loc[cells["method"] == "sdedit", "cost.train_steps"] == 0).all()
    by_method = pd.read_csv(out / "summary" / "method.csv")
    assert sorted(by_method["method"]) == sorted(set(cells["method"]))
    strength = pd.read_csv(out / "summary" / "sdedit.strength.csv")
    assert set(strength["method"]) == {"sdedit"} and len(strength) == 2
    setting = pd.read_csv(out / "summary" / "setting.csv")
    assert "seed" not in setting and "cost.unet_evaluations" in setting
    summary = json.loads((out / "summary.json").read_text())
    assert summary["axes"][0] == "method"
    assert not any(c.startswith("cost.") for c in summary["metrics"])  # never drift-checked
    # group metrics group within a method
    assert (
        cells.groupby("method")["seed_collapse[test-fake]"].apply(lambda s: s.notna().all()).all()
    )
    changes = gate.compare(
        gate.load_summary(out), gate.load_summary(out), gate.regression_spec(out)
    )
    assert changes and not any(c.drifted for c in changes)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["unet_evaluations"]["computed_this_run"]
        == manifest["unet_evaluations"]["grid_with_sharing"]
    )
    assert set(manifest["methods"]) == set(cells["method"])
    assert "<img" in (out / "report.html").read_text()


def test_a_protocol_without_methods_keeps_its_axes_and_tables(small_run):
    _, out, _ = small_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["axes"] == ["v", "K", "resolution", "seed"]
    cells = pd.read_parquet(out / "cells.parquet")
    assert set(cells["method"]) == {"sine"}
    assert not (out / "summary" / "method.csv").exists()
    assert not any(c.startswith("cost.") for c in cells.columns)


def test_a_methods_run_reruns_from_the_store_alone(methods_run):
    from sine_bench.runner.run import run_protocol

    path, out = methods_run
    before = pd.read_csv(out / "cells.csv")
    run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["all_cached"], manifest["stages"]
    after = pd.read_csv(out / "cells.csv")
    pd.testing.assert_frame_equal(before, after)  # costs come from the store's records
