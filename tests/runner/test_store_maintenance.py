"""``sine-bench store verify [--repair]`` and ``store gc [--yes]``, and stores written
before digests existed (digested on first read: no key moves, nothing recomputed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.runner.integrity import DIGEST_FIELD, DIGEST_FILE
from sine_bench.runner.run import run_protocol
from sine_bench.runner.store import Store
from tests.runner.test_faults import _items, _protocol

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A folder holding a one-item run (run-one) and its store."""
    root = tmp_path_factory.mktemp("maintenance")
    path = _protocol(root, "one", dataset=_items("blue-circle"))
    run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    return root


def _copy(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished store (without its run registrations) and protocol (its run
    directory not yet written)."""
    shutil.copytree(finished / "store", tmp_path / "store")
    shutil.rmtree(tmp_path / "store" / "runs")
    return _protocol(tmp_path, "one", dataset=_items("blue-circle"))


def _stages(path: Path) -> dict:
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    return json.loads((out / "manifest.json").read_text())["stages"]


def _an_edit(store: Path) -> Path:
    return sorted(p for p in (store / "edits").glob("*/*") if not p.name.startswith("."))[0]


def test_verify_finds_damage_and_repair_sets_it_aside(finished, tmp_path):
    store = _copy(finished, tmp_path).parent / "store"
    clean = runner.invoke(app, ["store", "verify", str(store)])
    assert clean.exit_code == 0, clean.output
    assert "damaged" not in clean.output and "edits" in clean.output
    edit = _an_edit(store)
    (edit / "edit.png").write_bytes((edit / "edit.png").read_bytes()[:-10])
    found = runner.invoke(app, ["store", "verify", str(store)])
    assert found.exit_code == 1
    assert f"damaged: {edit}: edit.png is" in found.output
    assert found.output.strip().splitlines()[-1].startswith("error: store ")
    assert edit.exists()  # verify alone changes nothing
    repaired = runner.invoke(app, ["store", "verify", str(store), "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert not edit.exists() and list((store / "quarantine" / "edits").iterdir())
    assert runner.invoke(app, ["store", "verify", str(store)]).exit_code == 0


def test_a_store_written_before_digests_stays_valid(finished, tmp_path):
    """Entries without a digest are checked for structure, digested on first read, and
    reused: the rerun computes nothing."""
    path = _copy(finished, tmp_path)
    store = path.parent / "store"
    for record in store.glob(f"*/*/*/{DIGEST_FILE}"):
        record.unlink()
    for score in store.glob("scores/*/*.json"):
        data = json.loads(score.read_text())
        score.write_text(json.dumps({k: v for k, v in data.items() if k != DIGEST_FIELD}))
    legacy = runner.invoke(app, ["store", "verify", str(store)])
    assert legacy.exit_code == 0 and "no digest yet" in legacy.output, legacy.output
    stages = _stages(path)
    assert all(s["computed"] == 0 for s in stages.values()), stages
    assert len(list(store.glob(f"*/*/*/{DIGEST_FILE}"))) >= 3  # fine-tune, edits, plots
    assert all(DIGEST_FIELD in json.loads(p.read_text()) for p in store.glob("scores/*/*.json"))
    again = runner.invoke(app, ["store", "verify", str(store)])
    assert "no digest yet" not in again.output and again.exit_code == 0


def test_gc_lists_then_removes_leftovers_and_unreferenced_entries(finished, tmp_path):
    path = _copy(finished, tmp_path)
    store = path.parent / "store"
    nothing = runner.invoke(app, ["store", "gc", str(store)])
    assert "none removed: no run directory has registered" in nothing.output, nothing.output
    _stages(path)  # the run registers with the store and lists its entries
    edit = _an_edit(store)
    orphan = edit.parent.parent / "ff" / ("ff" + edit.name[2:])
    shutil.copytree(edit, orphan)
    leftovers = [store / "plots" / "ab" / ".abcd.x1", path.parent / ".run-one.tmp-x2"]
    for folder in leftovers:
        folder.mkdir(parents=True)
    dry = runner.invoke(app, ["store", "gc", str(store)])
    assert dry.exit_code == 0, dry.output
    assert "2 temp leftovers" in dry.output and "1 entries no run directory lists" in dry.output
    assert str(orphan) in dry.output and "would remove" in dry.output
    assert orphan.exists() and all(p.exists() for p in leftovers)
    done = runner.invoke(app, ["store", "gc", str(store), "--yes"])
    assert done.exit_code == 0 and "removed" in done.output, done.output
    assert not orphan.exists() and not any(p.exists() for p in leftovers)
    assert all(s["computed"] == 0 for s in _stages(path).values())  # the run's are kept


def test_gc_refuses_while_a_run_uses_the_store_and_a_folder_that_is_no_store(tmp_path):
    store = Store(tmp_path / "store")
    (store.root / "edits").mkdir(parents=True)
    with store.using():
        busy = runner.invoke(app, ["store", "gc", str(store.root), "--yes"])
    assert busy.exit_code == 1 and "a run is using it" in busy.output
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    wrong = runner.invoke(app, ["store", "gc", str(tmp_path / "notes"), "--yes"])
    assert wrong.exit_code == 2 and "not a sine-bench store" in wrong.output
    assert (tmp_path / "notes" / "a.txt").read_text() == "mine"
