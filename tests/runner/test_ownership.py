"""A run replaces only a folder that holds a sine-bench run and nothing else (issue 21:
any folder with a file named manifest.json was taken for a run and replaced whole)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.protocol.fields import ProtocolError
from sine_bench.runner.ownership import LEGACY_NAMES, MARKER, check_replaceable, is_run_dir
from tests.helpers import write_protocol

runner = CliRunner()


def _web_extension(folder):
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"manifest_version": 3, "name": "ext"}))
    (folder / "notes.txt").write_text("mine")
    (folder / "src").mkdir()
    (folder / "src" / "main.js").write_text("console.log(1)")


def test_a_folder_sine_bench_did_not_make_survives_the_run(tmp_path):
    out = tmp_path / "run"
    _web_extension(out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    result = runner.invoke(app, ["run", str(write_protocol(tmp_path)), "--threads", "1"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: output ") and "not a sine-bench run" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert not (tmp_path / "store" / "finetunes").exists()  # refused before compute


def test_a_run_directory_holding_a_users_file_is_not_replaced(small_run, tmp_path):
    _, run_dir, _ = small_run
    assert is_run_dir(run_dir)
    marker = json.loads((run_dir / MARKER).read_text())
    assert marker["written_by"] == "sine-bench" and marker["format"] == 1
    assert {"manifest.json", "cells.csv", "report.html"} <= set(marker["names"])
    check_replaceable(run_dir)  # a run directory and nothing else: replaceable
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "notes.txt").write_text("my notes on this run")
    with pytest.raises(ProtocolError, match=r"also holds files it did not write \(notes.txt\)"):
        check_replaceable(copy)


def test_a_run_directory_from_before_the_marker_is_recognised(small_run, tmp_path):
    """Run directories written before the marker: sine-bench's manifest and only the
    names such a run wrote (docs/errors.md)."""
    import shutil

    _, run_dir, _ = small_run
    legacy = tmp_path / "legacy"
    shutil.copytree(run_dir, legacy)
    for name in (MARKER, "store-entries.json", "results.json", "samples.jsonl"):
        (legacy / name).unlink()
    assert {p.name for p in legacy.iterdir()} <= LEGACY_NAMES
    check_replaceable(legacy)
    (legacy / "src").mkdir()
    with pytest.raises(ProtocolError, match=r"did not write \(src\)"):
        check_replaceable(legacy)
    (legacy / "src").rmdir()
    (legacy / "manifest.json").write_text(json.dumps({"name": "not ours"}))
    with pytest.raises(ProtocolError, match="is not a sine-bench run directory"):
        check_replaceable(legacy)
