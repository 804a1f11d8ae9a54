"""The reproduction analysis end to end: run directories in, report out."""

import json

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.report import reproduction as rep
from tests.report.synthetic import overfit_cells, sweep, write_run


def test_overfit_table_from_run_dirs(tmp_path):
    cells, images = overfit_cells()
    run = write_run(
        tmp_path / "run", cells, {"name": "ov", "finetune": {"method": "sine-full"}}, images
    )
    loaded = rep.load_run(run)
    assert (loaded["finetune.method"] == "sine-full").all() and (loaded["run"] == "ov").all()
    result = rep.analyse(loaded)
    table = result.overfit.set_index("role")
    ft = table.loc["fine-tuned only (v=0, K=0)"]
    assert ft["identical_across_prompts"] == 1.0
    assert table.loc["SINE (v=0.7, K=400)", "identical_across_prompts"] == 0.0
    assert ft["lpips[alex]"] == pytest.approx(0.05)
    assert all(v.startswith("holds") for v in result.overfit_checks.values())
    assert result.endpoints["fine_tuned_only_identical_across_prompts"] == 1.0


def test_load_run_without_table_is_an_error(tmp_path):
    with pytest.raises(rep.ReproductionError, match="not a run directory"):
        rep.load_run(tmp_path)


def test_cli_writes_report_json_and_plots(tmp_path):
    run = write_run(tmp_path / "k", sweep("K", list(range(0, 1001, 250)), +1), {"name": "k"})
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["reproduce-report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "reproduction.json").read_text())
    [trends] = data["trends"].values()
    assert {t["metric"]: t["verdict"] for t in trends}["clip_t[toy]"] == "holds"
    assert list(out.glob("trend_K_*.png"))
    bad = CliRunner().invoke(app, ["reproduce-report", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "nope: no such folder" in bad.output
