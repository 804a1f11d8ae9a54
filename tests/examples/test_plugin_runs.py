"""The example package in whole runs (issue 22's done-when): one protocol names its
plug-ins by entry point (the NPI method, the recolour editor, the delta_e metrics and
the jsonl dataset format), another names the classes by ``module:Class``; both run,
a rerun computes nothing, and the methods appear in the frontier and
``summary/methods.md``. Tiny-random model, one source, one prompt, DDIM 4."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from sine_bench.runner.run import run_protocol
from tests.examples.helpers import NPI, require_examples
from tests.helpers import ROOT, write_protocol

RECOLOUR = "keyword-recolour"
SMOKE = ROOT / "datasets" / "toy-smoke"
PROMPT = "a large blue circle on a red background"


def jsonl_dataset(folder):
    """toy-smoke's blue circle, read through the example's jsonl format."""
    folder.mkdir()
    entry = {
        "id": "blue-circle",
        "image": str(SMOKE / "blue-circle.png"),
        "class_word": "circle",
        "source": "a large blue circle on a white background",
        "prompts": [PROMPT],
        "masks": {PROMPT: str(SMOKE / "blue-circle-mask.png")},
    }
    (folder / "dataset.jsonl").write_text(json.dumps(entry) + "\n")
    return folder


def run_twice(tmp_path, methods: dict, dataset) -> tuple[pd.DataFrame, dict, dict]:
    """(cells, first manifest, second manifest) of a small protocol run twice."""
    grid = {"v": None, "K": None, "seeds": [0, 1]}
    metrics = ["psnr", "oracle_faithful", "delta_e", "delta_e_masked"]
    path = write_protocol(tmp_path, methods=methods, grid=grid, metrics=metrics, dataset=dataset)
    quiet = dict(progress=False, threads=1, log=lambda *_: None)
    out = run_protocol(path, **quiet)
    first = json.loads((out / "manifest.json").read_text())
    run_protocol(path, **quiet)
    second = json.loads((out / "manifest.json").read_text())
    return pd.read_parquet(out / "cells.parquet"), first, second, out


def assert_reported(out, names):
    frontier = pd.read_csv(out / "frontier.csv")
    methods_md = (out / "summary" / "methods.md").read_text()
    for name in names:
        assert name in set(frontier["method"]), name
        assert f"**{name}**" in methods_md or name in methods_md, name


@pytest.fixture(scope="module")
def by_entry_point(tmp_path_factory, one_thread):
    require_examples()
    tmp = tmp_path_factory.mktemp("entry_points")
    methods = {
        NPI: {"grid": {"guidance": [1.0, 3.0]}},
        RECOLOUR: {"grid": {"strength": [0.5, 1.0]}},
        "pretrained": {},
    }
    dataset = {"path": str(jsonl_dataset(tmp / "data")), "format": "jsonl"}
    return run_twice(tmp, methods, dataset)


def test_entry_point_plugins_run_cache_and_report(by_entry_point):
    cells, first, second, out = by_entry_point
    assert set(cells["method"]) == {NPI, RECOLOUR, "pretrained"}
    assert first["stages"]["edit"]["computed"] > 0
    assert second["all_cached"] and all(s["computed"] == 0 for s in second["stages"].values())
    assert_reported(out, [NPI, RECOLOUR, "pretrained"])
    # the plug-in metrics scored every cell; the recolour editor changed the background
    assert cells["delta_e"].notna().all() and cells["delta_e_masked"].notna().all()
    recolour = cells[cells["method"] == RECOLOUR].set_index(f"{RECOLOUR}.strength")
    assert recolour.loc[1.0, "delta_e"].min() > recolour.loc[0.5, "delta_e"].max() > 1.0
    # NPI is deterministic: both seeds of a cell are one edit
    npi = cells[cells["method"] == NPI]
    assert npi.groupby("guidance")["image"].nunique().eq(1).all()
    assert not math.isnan(npi["psnr"].iloc[0])


def test_class_plugins_run_cache_and_report(tmp_path, one_thread):
    require_examples()
    methods = {
        "recolour": {
            "class": "sine_bench_examples.recolour:KeywordRecolour",
            "knobs": {"strength": 0.8},
            "grid": {"tolerance": [0.3]},
        },
        "npi": {"class": "sine_bench_examples.npi:NegativePromptInversion"},
    }
    cells, first, second, out = run_twice(tmp_path, methods, str(SMOKE))
    assert set(cells["method"]) == {"recolour", "npi"}
    assert (cells["recolour.tolerance"].dropna() == 0.3).all()
    assert first["stages"]["edit"]["computed"] > 0 and second["all_cached"]
    assert_reported(out, ["recolour", "npi"])
