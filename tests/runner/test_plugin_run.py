"""Black-box editors named by ``class: module:Class`` from files outside the repo (their
folder on sys.path, as PYTHONPATH puts it), run on one paper-toy scene: oracle columns,
per-edit cost, caching, a source edit recomputing that editor's edits and nothing else,
and a failure mid-run that leaves the store clean."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
import yaml

from sine_bench.protocol.method_checks import METHODS
from sine_bench.runner.executors import JobsFailed
from sine_bench.runner.run import run_protocol
from tests.helpers import ROOT

TINT = '''
import os

import numpy as np
from PIL import Image


class Tint:
    """Blend the source toward a flat colour."""

    knobs = {"strength": 0.5, "red": True}
    version = "1"

    def edit(self, source, source_prompt, target_prompt, seed, strength, red):
        if strength > 0.5 and os.environ.get("TINT_FAILS"):
            raise RuntimeError("out of memory")
        pixels = np.asarray(source, dtype=np.float32)
        tint = np.array([255, 0, 0] if red else [0, 0, 255], dtype=np.float32)
        return Image.fromarray((pixels * (1 - strength) + tint * strength).astype(np.uint8))
'''

FIT = '''
import json

import numpy as np
from PIL import Image


class MeanFit:
    """Fit the source's mean colour once, then paint a quarter of it in."""

    knobs = {}

    def train(self, source, prompt, folder):
        mean = np.asarray(source, dtype=np.float32).mean(axis=(0, 1))
        (folder / "mean.json").write_text(json.dumps(mean.tolist()))

    def edit(self, source, source_prompt, target_prompt, seed, trained):
        mean = np.array(json.loads((trained / "mean.json").read_text()), dtype=np.float32)
        pixels = np.asarray(source, dtype=np.float32)
        return Image.fromarray((0.75 * pixels + 0.25 * mean).astype(np.uint8))
'''

ORACLE = ["oracle_edit_success", "oracle_preserved", "oracle_faithful"]


@pytest.fixture
def plugin_protocol(tmp_path, monkeypatch):
    """Two editors in a folder outside the repo, on sys.path; a protocol naming both on
    one paper-toy scene and prompt (3 cells); the registry and modules as before after."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "bb_tint.py").write_text(TINT)
    (plugins / "bb_fit.py").write_text(FIT)
    monkeypatch.syspath_prepend(str(plugins))
    scene = ROOT / "datasets" / "paper-toy" / "scene-00.png"
    item = {"id": "scene-00", "image": str(scene), "class_word": "circle"}
    item |= {"source": "a large blue circle on a red background"}
    item["prompts"] = ["a large blue circle on a green background"]
    protocol = {
        "name": "plugin-toy",
        "model": {"name": "toy"},
        "dataset": {"items": [item]},
        "grid": {"resolution": ["native"], "seeds": [0]},
        "methods": {
            "tint": {"class": "bb_tint:Tint", "grid": {"strength": [0.2, 0.6]}},
            "fit": {"class": "bb_fit:MeanFit"},
        },
        "metrics": [*ORACLE, "psnr"],
        "output": str(tmp_path / "run"),
        "store": str(tmp_path / "store"),
    }
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(protocol, sort_keys=False))
    yield path, plugins
    fresh_process()


def fresh_process() -> None:
    """Forget the editors as a new process would not know them (a rerun after editing a
    plug-in's file is a new process: its module and identity are read afresh)."""
    for name in ("tint", "fit"):
        METHODS.unregister(name)
    for module in ("bb_tint", "bb_fit"):
        sys.modules.pop(module, None)


def run(path):
    return run_protocol(path, progress=False, threads=1, log=lambda *_: None)


def computed(out) -> dict[str, int]:
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    return {name: stage["computed"] for name, stage in stages.items()}


def test_editors_from_a_folder_run_cache_and_recompute_only_what_changed(plugin_protocol):
    path, plugins = plugin_protocol
    out = run(path)
    cells = pd.read_csv(out / "cells.csv")
    assert sorted(cells["method"]) == ["fit", "tint", "tint"]
    assert cells[ORACLE].notna().all().all()  # the oracle scores every editor's edits
    assert (cells["cost.edit_seconds"] > 0).all() and (cells["cost.edit_peak_memory_mb"] > 0).all()
    assert cells["cost.unet_evaluations"].isna().all()  # no UNet of ours ran
    assert set(cells["tint.strength"].dropna()) == {0.2, 0.6}
    methods_md = (out / "summary" / "methods.md").read_text()
    assert "| tint |" in methods_md and "| fit |" in methods_md
    assert "edit_peak_memory_mb" in methods_md
    frontier = pd.read_csv(out / "frontier.csv")
    assert set(frontier["method"]) == {"tint", "fit"}  # every editor's settings, placed
    assert computed(out) == {"fine-tune": 1, "edit": 3, "score": 3 * 4}

    fresh_process()
    assert computed(run(path)) == {"fine-tune": 0, "edit": 0, "score": 0}

    fresh_process()  # edit the tint editor's source: its 2 edits (and scores) only
    (plugins / "bb_tint.py").write_text(TINT + "\n# a comment changes the source's hash\n")
    assert computed(run(path)) == {"fine-tune": 0, "edit": 2, "score": 2 * 4}


def test_an_editor_that_raises_fails_its_job_and_leaves_the_store_clean(
    plugin_protocol, monkeypatch
):
    path, _ = plugin_protocol
    monkeypatch.setenv("TINT_FAILS", "1")
    with pytest.raises(JobsFailed) as failed:
        run(path)
    assert failed.value.total == 3 and len(failed.value.failures) == 1
    reason = failed.value.failures[0][1]
    assert "\n" not in str(failed.value) and reason.startswith(
        "method 'tint' (plug-in bb_tint:Tint"
    )
    assert "raised in edit of item 'scene-00'" in reason and "RuntimeError: out of memory" in reason
    # the other jobs ran on: fit's edit and tint's 0.2 are stored, nothing of the failed one
    edits = list((path.parent / "store" / "edits").rglob("edit.json"))
    assert sorted(
        json.loads(e.read_text())["settings"]["knobs"].get("strength", 0) for e in edits
    ) == [0, 0.2]
    monkeypatch.delenv("TINT_FAILS")
    fresh_process()
    assert computed(run(path))["edit"] == 1  # only the failed one


def test_a_worker_process_registers_the_protocols_classes(plugin_protocol, monkeypatch):
    """A Ray worker unpickles the plan (no validation runs there): it registers the
    classes the protocol names before it looks a method up."""
    from sine_bench import __version__
    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.context import WorkerRun
    from sine_bench.runner.plan import build_plan

    path, _ = plugin_protocol
    plan = build_plan(load_protocol(path))
    monkeypatch.chdir(path.parent)  # the worker moves to the driver's folder: undone after
    fresh_process()  # as a worker starts: neither class is known
    assert "tint" not in METHODS
    WorkerRun(plan, str(path.parent / "store"), str(path.parent), __version__).context()
    assert METHODS.get("tint").plugin == METHODS.get("tint").origin.identity()
