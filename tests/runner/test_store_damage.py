"""Fault injection into the store: every kind of entry (fine-tune, edit, score, plot set)
corrupted, truncated, swapped and deleted. The next run detects each damaged entry,
sets it aside in quarantine/ with one line, computes it again, and writes the same
cells table as the undamaged run (issue 21; docs/errors.md, "A verified store")."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sine_bench.runner.integrity import DIGEST_FILE
from sine_bench.runner.run import run_protocol
from tests.runner.test_faults import _items, _protocol

KINDS = ("finetunes", "edits", "scores", "plots")
DAMAGES = ("corrupt", "truncate", "swap", "delete")


def _entries(store: Path, stage: str) -> list[Path]:
    return sorted(p for p in (store / stage).glob("*/*") if not p.name.startswith("."))


def _biggest_file(entry: Path) -> Path:
    files = [p for p in entry.rglob("*") if p.is_file() and p.name != DIGEST_FILE]
    return max(files, key=lambda p: (p.stat().st_size, str(p)))


def _flip(path: Path) -> None:
    """Invert up to 4 KB in the middle of ``path`` (a bad disk, a stray write)."""
    data = bytearray(path.read_bytes())
    n = min(4096, len(data) // 4)
    start = len(data) // 2 - n // 2
    data[start : start + n] = bytes(b ^ 0xFF for b in data[start : start + n])
    path.write_bytes(bytes(data))


def _swap(a: Path, b: Path) -> None:
    tmp = a.with_name(a.name + "-swap")
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)


def damage(store: Path, stage: str, how: str) -> list[Path]:
    """Damage entries of ``stage`` in way ``how``; the entries now holding wrong bytes
    (an entry deleted whole is not there to detect, only to compute again)."""
    entries = _entries(store, stage)
    first = entries[0]
    if stage == "scores":
        if how == "corrupt":  # a plausible number where the score was
            record = json.loads(first.read_text())
            first.write_text(json.dumps(record | {"value": 99.5}))
        elif how == "truncate":
            first.write_bytes(b"")
        elif how == "swap":
            _swap(first, entries[1])
            return [first, entries[1]]
        else:
            first.unlink()
            return []
        return [first]
    if how == "swap":
        if stage == "plots":  # one plot set per run: swap two of its images
            pngs = sorted(first.glob("*.png"))
            _swap(pngs[0], pngs[1])
            return [first]
        if stage == "edits":  # another key's image under this key
            _swap(first / "edit.png", entries[1] / "edit.png")
        else:  # two fine-tunes' folders under each other's key
            _swap(first, entries[1])
        return [first, entries[1]]
    target = _biggest_file(first)
    if how == "corrupt":
        _flip(target)
    elif how == "truncate":
        os.truncate(target, target.stat().st_size // 2)
    else:
        target.unlink()  # the folder stays: only a check of its files finds it
    return [first]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """An undamaged two-item run: its protocol and cells table."""
    root = tmp_path_factory.mktemp("damage")
    path = _protocol(root, "two", dataset=_items("blue-circle", "green-diamond"))
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    return path, pd.read_csv(out / "cells.csv")


@pytest.mark.parametrize("shift", range(4))
def test_each_damaged_entry_is_detected_quarantined_and_recomputed(clean, shift):
    """Four reruns; in each, every kind gets another damage (a Latin square: all 16
    (kind, damage) pairs are covered)."""
    path, cells = clean
    store = path.parent / "store"
    plan = {kind: DAMAGES[(i + shift) % 4] for i, kind in enumerate(KINDS)}
    damaged = {kind: damage(store, kind, how) for kind, how in plan.items()}
    lines: list[str] = []
    out = run_protocol(path, progress=False, threads=1, log=lines.append)
    manifest = json.loads((out / "manifest.json").read_text())
    for kind, entries in damaged.items():
        for entry in entries:
            said = [line for line in lines if f"store entry {entry}: damaged" in line]
            assert len(said) == 1, (plan[kind], entry, lines)
            assert said[0] in manifest["store_repairs"]
            assert list((store / "quarantine" / kind).glob(f"{entry.name}.*")), entry
    stages = manifest["stages"]
    assert all(stages[s]["computed"] >= 1 for s in ("fine-tune", "edit", "score"))
    pd.testing.assert_frame_equal(pd.read_csv(out / "cells.csv"), cells)
    shutil.rmtree(store / "quarantine")


def test_run_directory_images_are_copies_not_links_into_the_store(clean, tmp_path):
    """Editing a run directory's image never edits the store (they were hard links)."""
    path, _ = clean
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    image = out / pd.read_csv(out / "cells.csv")["image"][0]
    key = pd.read_csv(out / "cells.csv")["edit_key"][0]
    stored = path.parent / "store" / "edits" / key[:2] / key / "edit.png"
    before = stored.read_bytes()
    assert image.stat().st_nlink == 1 and image.stat().st_ino != stored.stat().st_ino
    image.write_bytes(b"edited by the user")
    assert stored.read_bytes() == before


def test_an_edit_gone_after_the_edit_stage_is_computed_again_not_bad_input(clean, monkeypatch):
    """A stored image that vanishes between the edit and score stages (another process,
    a disk) is computed again with one line; it was `error: ... image` (exit 2)."""
    from sine_bench.runner.edit_stage import EditStage

    path, cells = clean
    store = path.parent / "store"
    for score in store.glob("scores/*/*.json"):
        score.unlink()  # so that scoring reads every edit
    edit_all = EditStage.run

    def edit_all_then_lose_one(self):
        edit_all(self)
        (sorted(store.glob("edits/*/*"))[0] / "edit.png").unlink()

    monkeypatch.setattr(EditStage, "run", edit_all_then_lose_one)
    lines: list[str] = []
    out = run_protocol(path, progress=False, threads=1, log=lines.append)
    assert any(": damaged (edit.png is missing)" in line for line in lines), lines
    pd.testing.assert_frame_equal(pd.read_csv(out / "cells.csv"), cells)
    shutil.rmtree(store / "quarantine")


def test_the_next_run_sweeps_what_a_killed_plot_or_report_write_left(clean):
    path, cells = clean
    store, out = path.parent / "store", path.parent / "run-two"
    leftovers = [
        out.parent / f".{out.name}.tmp-k1ll3d",  # run directory being assembled
        out.parent / f".{out.name}.old-12345",  # the previous one being swapped out
        store / "plots" / "ab" / ".abcdef.k1ll3d",  # a plot set being drawn
    ]
    for folder in leftovers:
        folder.mkdir(parents=True)
        (folder / "half.png").write_bytes(b"x")
    (store / "locks" / "plots").mkdir(parents=True, exist_ok=True)
    (store / "locks" / "plots" / "abcdef.lock").touch()  # its writer took the lock, died
    run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    assert not [p for p in leftovers if p.exists()]


def test_plan_counts_a_damaged_entry_as_damaged_not_cached(clean):
    """``plan`` checks digests: a flipped fine-tune and edit are not 'cached' (a run
    would recompute them), and planning moves nothing into quarantine."""
    from typer.testing import CliRunner

    from sine_bench.cli import app
    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.run import plan_summary

    path, _ = clean
    store = path.parent / "store"
    flipped = [_biggest_file(_entries(store, stage)[0]) for stage in ("finetunes", "edits")]
    for target in flipped:
        _flip(target)
    try:
        summary = plan_summary(load_protocol(path))
        for stage in ("finetunes", "edits"):
            assert summary[f"{stage}_cached"] == summary[stage] - 1, stage
            assert summary[f"{stage}_damaged"] == 1, stage
        assert summary["unet_evaluations_todo"] > 0
        output = CliRunner().invoke(app, ["plan", str(path), "--no-cells"]).output
        assert "1 damaged (a run sets it aside and recomputes)" in output, output
        assert "[damaged, to run]" in output, output
        assert not (store / "quarantine").exists()
    finally:
        for target in flipped:
            _flip(target)  # its own inverse: the store is whole again
    summary = plan_summary(load_protocol(path))
    assert summary["finetunes_cached"] == summary["finetunes"]
    assert summary["edits_cached"] == summary["edits"] and not summary["edits_damaged"]
