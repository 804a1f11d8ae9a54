"""``sine-bench score`` and ``export-edits``: a finished run's edits exported and scored
give the run's values back, a rerun computes nothing, ``compare`` reads the result,
and every bad edits file is one error line (exit 2) before anything is scored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.report.tables import metric_columns
from tests.helpers import ROOT, write_protocol

runner = CliRunner()
EDIT_SCORE = "edit_score[test-fake+test-fake]"
SOURCE = ROOT / "datasets" / "toy-smoke" / "blue-circle.png"  # 64 x 64
PROMPT = "a large blue circle on a red background"


def _score(protocol: Path, edits: Path, *options: str):
    args = ["score", str(protocol), str(edits), "--threads", "1", "--no-progress", *options]
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def scored(small_run, tmp_path_factory):
    """small_run's edits exported and scored with its protocol (edit_score added), into
    another output over the same store: (run dir, score dir, edits file, protocol)."""
    path, run_dir, _ = small_run
    tmp = tmp_path_factory.mktemp("scored")
    edits = tmp / "edits" / "run.jsonl"
    result = runner.invoke(app, ["export-edits", str(run_dir), str(edits)])
    assert result.exit_code == 0, result.output
    protocol = yaml.safe_load(path.read_text())
    protocol["output"] = str(tmp / "scored")
    protocol["metrics"] = [*protocol["metrics"], EDIT_SCORE]
    score_protocol = tmp / "score.yaml"
    score_protocol.write_text(yaml.safe_dump(protocol))
    result = _score(score_protocol, edits)
    assert result.exit_code == 0, result.output
    return run_dir, tmp / "scored", edits, score_protocol


def test_round_trip_gives_the_runs_metric_values(scored):
    run_dir, score_dir, edits, _ = scored
    run = pd.read_parquet(run_dir / "cells.parquet")
    again = pd.read_parquet(score_dir / "cells.parquet")
    axes = json.loads((run_dir / "manifest.json").read_text())["axes"]
    assert json.loads((score_dir / "manifest.json").read_text())["axes"] == axes
    assert len(edits.read_text().splitlines()) == len(run) == len(again)
    joined = run.merge(again, on=["item", "prompt", *axes], suffixes=("", ".scored"))
    assert len(joined) == len(run)
    metrics = metric_columns(run, axes)
    assert "editability_gap[test-fake]" in metrics and "memorization[test-fake]" in metrics
    for metric in metrics:
        mine, theirs = joined[metric].to_numpy(float), joined[f"{metric}.scored"].to_numpy(float)
        assert np.allclose(mine, theirs, rtol=1e-6, atol=1e-6, equal_nan=True), metric
    # the references came from the run's store: edit_score is scored, from the same ends
    (column,) = [c for c in again if c.startswith("edit_score[")]  # names the LPIPS net
    values = again[column].to_numpy(float)
    assert np.isfinite(values).all() and ((values >= 0) & (values <= 1.5)).all()


def test_compare_accepts_the_score_run_against_the_run(scored):
    run_dir, score_dir, _, _ = scored
    result = runner.invoke(app, ["compare", str(score_dir), "--baseline", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert " 0 drifted" in result.output


def test_the_score_run_directory_is_a_runs(scored):
    _, score_dir, _, _ = scored
    for name in ("report.html", "frontier.csv", "summary.json", "summary/setting.md"):
        assert (score_dir / name).is_file() or name == "summary/setting.md", name
    assert (score_dir / "summary" / "v.md").is_file()
    cells = pd.read_parquet(score_dir / "cells.parquet")
    assert all((score_dir / image).is_file() for image in cells["image"])
    entries = json.loads((score_dir / "store-entries.json").read_text())["entries"]
    assert set(cells["edit_key"]) <= set(entries["edits"])  # store gc keeps the imports
    manifest = json.loads((score_dir / "manifest.json").read_text())
    assert manifest["stages"]["import"]["total"] == cells["edit_key"].nunique()
    assert manifest["stages"]["edit"]["computed"] == 0  # the run's references, cached


def test_a_rerun_computes_nothing(scored):
    _, score_dir, edits, protocol = scored
    result = _score(protocol, edits)
    assert result.exit_code == 0, result.output
    manifest = json.loads((score_dir / "manifest.json").read_text())
    assert manifest["all_cached"] is True
    assert {name: s["computed"] for name, s in manifest["stages"].items()} == {
        "import": 0,
        "fine-tune": 0,
        "edit": 0,
        "score": 0,
    }


# --------------------------------------------------------------------------- bad input


def _line(**fields) -> str:
    base = {"item": "blue-circle", "prompt": PROMPT, "image": "edit.png"}
    return json.dumps({**base, **fields})


BAD = {
    "malformed": ([_line(), "{not json"], "line 2: not valid JSON"),
    "not-object": (["[1, 2]"], "line 1: not a JSON object"),
    "no-image": (['{"item": "blue-circle", "prompt": "x"}'], "line 1: 'image' is missing"),
    "unknown-item": ([_line(item="red-square")], "line 1: unknown item 'red-square'"),
    "unknown-prompt": ([_line(prompt="a cat")], "line 1: item 'blue-circle' has no prompt"),
    "missing-image": ([_line(image="gone.png")], "line 1: image file not found"),
    "unreadable-image": ([_line(image="broken.png")], "line 1: image file is unreadable"),
    "wrong-size": ([_line(image="small.png")], "line 1: image"),
    "declared-size": ([_line(height=64, width=96)], "the size the line gives is 64x96"),
    "repeated": ([_line(seed=1), _line(seed=1)], "line 2: the same item, prompt"),
    "nested-setting": ([_line(knobs={"a": 1})], "line 1: setting 'knobs' must be"),
    "reserved": ([_line(edit_key="x")], "line 1: field 'edit_key' is a column"),
    "bad-seed": ([_line(seed=-1)], "line 1: 'seed' must be a non-negative integer"),
    "bad-edit-setting": ([_line(steps=0)], "line 1: setting 'steps'"),
    # one cell whatever the fields' order; a null setting is an absent one
    "repeated-reordered": (
        [_line(seed=1, g=2), _line(g=2, seed=1, h=None)],
        "line 2: the same item, prompt",
    ),
    "mixed-types": ([_line(seed=0, g="1"), _line(seed=1, g=1)], "line 2: setting 'g' is a number"),
    "metric-named": ([_line(psnr=1.0)], "line 1: setting 'psnr' has the name of a metric"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_edits_file_is_one_error_line_before_scoring(case, tmp_path):
    from PIL import Image

    lines, needle = BAD[case]
    shutil.copyfile(SOURCE, tmp_path / "edit.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    Image.new("RGB", (32, 32)).save(tmp_path / "small.png")
    edits = tmp_path / "edits.jsonl"
    edits.write_text("\n".join(lines) + "\n")
    # editability_gap: a bad line is found before any reference is planned or computed
    protocol = write_protocol(tmp_path, metrics=["psnr", "editability_gap[toy]"])
    result = _score(protocol, edits)
    assert result.exit_code == 2, result.output
    shown = [line for line in result.output.splitlines() if line.strip()]
    assert len(shown) == 1 and shown[0].startswith("error: "), result.output
    assert needle in shown[0] and str(edits) in shown[0], shown[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "store").exists()


def test_a_byte_order_mark_crlf_and_blank_lines_are_read(tmp_path):
    from sine_bench.runner.edits_file import read_edits

    edits = tmp_path / "edits.jsonl"
    edits.write_bytes(("\ufeff" + _line(seed=0) + "\r\n\r\n" + _line(seed=1) + "  \n").encode())
    lines = read_edits(edits)
    assert [(x.number, x.item, x.settings) for x in lines] == [
        (1, "blue-circle", (("seed", 0),)),
        (3, "blue-circle", (("seed", 1),)),
    ]


def test_an_empty_edits_file_is_refused(tmp_path):
    edits = tmp_path / "edits.jsonl"
    edits.write_text("\n")
    result = _score(write_protocol(tmp_path, metrics=["psnr"]), edits)
    assert result.exit_code == 2 and "no edits" in result.output, result.output


# --------------------------------------------------------------------------- references


def test_without_references_their_metrics_are_omitted_with_a_note(tmp_path):
    from tests.fakes import register_fakes

    register_fakes()
    shutil.copyfile(SOURCE, tmp_path / "edit.png")
    edits = tmp_path / "edits.jsonl"
    edits.write_text(_line(method="mine", seed=0) + "\n" + _line(method="mine", seed=1) + "\n")
    metrics = ["psnr", EDIT_SCORE, "memorization[test-fake]"]
    result = _score(write_protocol(tmp_path, metrics=metrics), edits, "--no-references")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    cells = pd.read_parquet(tmp_path / "run" / "cells.parquet")
    assert "psnr" in cells and not [c for c in cells if c.startswith(("edit_score", "memo"))]
    assert len(manifest["notes"]) == 2 and all("omitted" in n for n in manifest["notes"])
    assert manifest["axes"] == ["method", "seed"] and set(cells["method"]) == {"mine"}
    assert manifest["stages"]["edit"]["total"] == 0 and manifest["model_identity"] is None
    assert f"note: {EDIT_SCORE}: omitted" in result.output
    assert f"<li>{EDIT_SCORE}: omitted" in (tmp_path / "run" / "report.html").read_text()


def test_memorization_reads_sines_fine_tune_only(tmp_path):
    """A line of another method has no fine-tune the protocol knows: empty, with a note
    (and nothing is trained for it)."""
    from tests.fakes import register_fakes

    register_fakes()
    shutil.copyfile(SOURCE, tmp_path / "edit.png")
    edits = tmp_path / "edits.jsonl"
    edits.write_text(_line(method="mine") + "\n")
    result = _score(write_protocol(tmp_path, metrics=["memorization[test-fake]"]), edits)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    cells = pd.read_parquet(tmp_path / "run" / "cells.parquet")
    assert cells["memorization[test-fake]"].isna().all()
    assert manifest["notes"] == [
        "memorization[test-fake]: empty on 1 of 1 edits: it reads the edit's method's own "
        "fine-tune, known only for methods whose fine-tune is the protocol's finetune "
        "section (sine)"
    ]
    assert manifest["stages"]["fine-tune"]["total"] == 0


def test_a_dataset_of_instructions_gets_no_references(tmp_path):
    """SINE's and the pretrained model's references take a caption: on instructions the
    metrics that read them are omitted, with a note, and nothing of the model runs."""
    from tests.fakes import register_fakes

    register_fakes()
    shutil.copyfile(SOURCE, tmp_path / "edit.png")
    edits = tmp_path / "edits.jsonl"
    edits.write_text(_line(prompt="make the background red") + "\n")
    item = {"id": "blue-circle", "image": str(SOURCE), "class_word": "circle"}
    item |= {"prompts": ["make the background red"], "prompt_kind": "instruction"}
    metrics = ["psnr", "editability_gap[test-fake]"]
    protocol = write_protocol(tmp_path, metrics=metrics, dataset={"items": [item]})
    result = _score(protocol, edits)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert len(manifest["notes"]) == 1 and "this dataset gives instructions" in manifest["notes"][0]
    assert manifest["stages"]["edit"]["total"] == 0


def test_several_methods_make_method_an_axis_and_settings_columns(tmp_path):
    from PIL import Image

    Image.open(SOURCE).convert("RGB").save(tmp_path / "edit.png")
    Image.open(SOURCE).convert("RGB").rotate(90).save(tmp_path / "other.png")
    edits = tmp_path / "edits.jsonl"
    lines = [_line(method="a", strength=0.3), _line(method="a", strength=0.6, image="other.png")]
    edits.write_text("\n".join([*lines, _line(method="b")]) + "\n")
    result = _score(write_protocol(tmp_path, metrics=["psnr"]), edits)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / "manifest.json").read_text())["axes"] == ["method", "strength"]
    cells = pd.read_parquet(run_dir / "cells.parquet")
    assert list(cells["method"]) == ["a", "a", "b"] and cells["strength"].isna().tolist() == [
        False,
        False,
        True,
    ]
    assert cells["psnr"].iloc[0] == 100.0 and cells["psnr"].iloc[1] < 100.0  # the source, kept
    for name in ("method", "setting"):
        assert (run_dir / "summary" / f"{name}.md").is_file()


def test_a_protocol_listing_methods_makes_method_an_axis_for_one_method_too(tmp_path):
    """As a run of that protocol has it (compare matches rows on it): a one-method run's
    export with two knob axes scored back keeps 'method' first."""
    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.score_plan import build_score_plan

    shutil.copyfile(SOURCE, tmp_path / "edit.png")
    edits = tmp_path / "edits.jsonl"
    lines = [_line(method="sdedit", **{"sdedit.strength": s, "K": 400}) for s in (0.3, 0.6)]
    edits.write_text("\n".join(lines) + "\n")
    grid = {"v": None, "K": None}
    protocol = write_protocol(tmp_path, metrics=["psnr"], methods={"sdedit": {}}, grid=grid)
    plan = build_score_plan(load_protocol(protocol), edits).plan
    assert plan.axes == ["method", "sdedit.strength", "K"]
    unlisted = write_protocol(tmp_path, metrics=["psnr"])
    assert build_score_plan(load_protocol(unlisted), edits).plan.axes == ["sdedit.strength", "K"]


def test_export_needs_a_finished_run_directory(tmp_path):
    result = runner.invoke(app, ["export-edits", str(tmp_path), str(tmp_path / "e.jsonl")])
    assert result.exit_code == 2 and "not a run directory" in result.output, result.output
    assert not (tmp_path / "e.jsonl").exists()


def test_round_trip_of_several_methods(methods_run, tmp_path):
    """Every shipped method's edits, with their own knobs as settings: the same values,
    and compare finds the run's rows (method first among the axes)."""
    path, run_dir = methods_run
    edits = tmp_path / "edits.jsonl"
    assert runner.invoke(app, ["export-edits", str(run_dir), str(edits)]).exit_code == 0
    protocol = yaml.safe_load(path.read_text()) | {"output": str(tmp_path / "scored")}
    (tmp_path / "score.yaml").write_text(yaml.safe_dump(protocol))
    result = _score(tmp_path / "score.yaml", edits)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["compare", str(tmp_path / "scored"), "--baseline", str(run_dir)])
    assert result.exit_code == 0 and " 0 drifted" in result.output, result.output
    run = pd.read_parquet(run_dir / "cells.parquet")
    again = pd.read_parquet(tmp_path / "scored" / "cells.parquet")
    axes = json.loads((run_dir / "manifest.json").read_text())["axes"]
    assert json.loads((tmp_path / "scored" / "manifest.json").read_text())["axes"][0] == "method"
    mine, theirs = run.assign(k=_ident(run, axes)), again.assign(k=_ident(again, axes))
    joined = mine.merge(theirs, on="k", suffixes=("", "."))
    assert len(joined) == len(run) == len(again)
    for metric in metric_columns(run, axes):
        mine, theirs = joined[metric].to_numpy(float), joined[f"{metric}."].to_numpy(float)
        assert np.allclose(mine, theirs, rtol=1e-6, atol=1e-6, equal_nan=True), metric


def _ident(table: pd.DataFrame, axes: list[str]) -> list[str]:
    """A cell's item, prompt and axis values as text (400 and 400.0 alike, missing '-')."""

    def text(value) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "-"
        number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
        return repr(float(value)) if number else str(value)

    columns = table[["item", "prompt", *axes]].itertuples(index=False)
    return ["|".join(text(v) for v in row) for row in columns]
