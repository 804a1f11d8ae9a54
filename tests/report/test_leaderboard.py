"""sine-bench leaderboard: finished runs side by side, runs of other data labelled
apart, PIE-Bench's scaling, a per edit-type breakdown, one-line errors."""

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.report.leaderboard import LeaderboardError, build, paper_factor

runner = CliRunner()


def test_two_finished_runs_render_side_by_side(small_run, limited_run, tmp_path):
    _, full, _ = small_run
    out = tmp_path / "board"
    result = runner.invoke(app, ["leaderboard", str(full), str(limited_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "leaderboard.csv")
    assert list(table["dataset"]) == ["D1", "D2"]  # one best setting per run (one method)
    assert list(table["images"]) == [2, 1]
    # one protocol's two runs: told apart by their folders
    assert list(table["run"]) == [f"test-small ({full.name})", f"test-small ({limited_run.name})"]
    cells = pd.read_csv(full / "cells.csv")
    # the full run's best setting (by oracle_edit_success) and its mean, recomputed here
    means = cells.groupby(["v", "K"])["oracle_edit_success"].mean()
    assert table["oracle_edit_success"][0] == pytest.approx(means.max())
    text = (out / "leaderboard.md").read_text()
    assert "limited to 1 of 2 items" in text and "runs differ in what they were scored on" in text
    html = (out / "leaderboard.html").read_text()
    assert html.count("<table>") == 2 and "test-small" in html


def test_every_setting_and_the_paper_scale(small_run, tmp_path):
    _, full, _ = small_run
    board = build([full], per_setting=True, metrics=["psnr", "ssim"], rank="psnr")
    assert len(board.rows) == 4 and board.rows["setting"].str.endswith("(best)").sum() == 1
    assert not board.notes  # one run: nothing to set apart
    best = board.rows[board.rows["setting"].str.endswith("(best)")]
    assert best["psnr"].iloc[0] == board.rows["psnr"].max()
    assert paper_factor("structure_dist_pie[dino-vitb8]") == 1e3
    assert paper_factor("lpips_bg_pie[squeeze]") == 1e3
    assert paper_factor("mse_bg_corrected") == 1e4 and paper_factor("ssim_edit_pie") == 1e2
    assert paper_factor("ssim") == 1.0 and paper_factor("psnr_bg_pie") == 1.0


def test_paper_scale_multiplies_the_pie_columns(small_run, tmp_path):
    _, full, _ = small_run
    run = _copy(full, tmp_path / "pie")
    cells = pd.read_parquet(run / "cells.parquet")
    cells["mse_bg_pie"] = cells["psnr"] / 1000
    _write_cells(run, cells)
    plain = build([run], metrics=["mse_bg_pie"], rank="mse_bg_pie")
    scaled = build([run], metrics=["mse_bg_pie"], rank="mse_bg_pie", paper_scale=True)
    for column in ("mse_bg_pie", "mse_bg_pie_lo", "mse_bg_pie_hi"):
        assert scaled.rows[column][0] == pytest.approx(plain.rows[column][0] * 1e4)
    # mse is lower-better: the best setting is the one with the lowest mean
    means = cells.groupby(["v", "K"])["mse_bg_pie"].mean()
    assert plain.rows["mse_bg_pie"][0] == pytest.approx(means.min())


def test_a_dataset_with_edit_types_is_broken_down_by_type(small_run, tmp_path):
    _, full, _ = small_run
    run = _copy(full, tmp_path / "typed")
    cells = pd.read_parquet(run / "cells.parquet")
    cells["edit_type"] = cells["prompt_index"].map({0: "1", 1: "2"}).fillna("2")
    _write_cells(run, cells)
    out = tmp_path / "board"
    result = runner.invoke(app, ["leaderboard", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    typed = pd.read_csv(out / "leaderboard_by_type.csv", dtype={"edit_type": str})
    assert list(typed["edit_type"]) == ["1", "2"]
    assert typed["n"].sum() == pd.read_csv(out / "leaderboard.csv")["n"][0]
    assert "## Per edit type" in (out / "leaderboard.md").read_text()


def _copy(run_dir, dest):
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("images", "plots"))
    marker = json.loads((dest / "sine-bench-run.json").read_text())
    marker["names"] = [n for n in marker["names"] if n not in ("images", "plots")]
    (dest / "sine-bench-run.json").write_text(json.dumps(marker))
    return dest


def _write_cells(run_dir, cells):
    cells.to_parquet(run_dir / "cells.parquet", index=False)
    cells.to_csv(run_dir / "cells.csv", index=False)


def test_bad_folders_are_one_line_errors(small_run, tmp_path):
    _, full, _ = small_run
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("x")
    half = _copy(full, tmp_path / "half")
    (half / "cells.csv").unlink()
    damaged = _copy(full, tmp_path / "damaged")  # a truncated table: no reader's traceback
    table = (damaged / "cells.parquet").read_bytes()
    (damaged / "cells.parquet").write_bytes(table[: len(table) // 2])
    edited = _copy(full, tmp_path / "edited")  # one sample line changed after the run
    samples = (edited / "samples.jsonl").read_text().splitlines(keepends=True)
    (edited / "samples.jsonl").write_text("".join(samples[1:]))
    cases = {
        str(stray): "not a run directory",
        str(half): "half-written run directory (cells.csv missing",
        str(damaged): "cells.parquet: unreadable cells table",
        str(edited): "edited/samples.jsonl: not the file results.json records",
        str(tmp_path / "absent"): "no such folder",
    }
    for folder, expected in cases.items():
        result = runner.invoke(app, ["leaderboard", str(full), folder, "--out", str(tmp_path)])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
    assert not (tmp_path / "leaderboard.md").exists()  # nothing written
    exported = runner.invoke(app, ["export-edits", str(damaged), str(tmp_path / "e.jsonl")])
    assert exported.exit_code == 2 and "unreadable cells table" in exported.output
    compared = runner.invoke(app, ["compare", str(edited), "--baseline", str(full)])
    assert compared.exit_code == 2 and "samples.jsonl: not the file" in compared.output
    assert not (tmp_path / "e.jsonl").exists()
    with pytest.raises(LeaderboardError, match="given twice"):
        build([full, full])
    with pytest.raises(LeaderboardError, match="'nope' is a column of none"):
        build([full], metrics=["nope"])


def test_runs_from_before_results_json_are_read_with_a_note():
    from tests.helpers import ROOT

    reference = ROOT / "results" / "reference"
    board = build([reference / "paper-k-sweep", reference / "paper-v-sweep"], rank="psnr")
    assert list(board.rows["method"]) == ["sine", "sine"]  # no method column: SINE alone
    assert list(board.rows["images"]) == [12, 12]
    assert any("is not checked" in note for note in board.notes)
