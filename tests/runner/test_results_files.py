"""samples.jsonl and results.json: one line per scored edit and the run's record,
both consistent with the cells table and manifest they are derived from."""

import json
import math

import pandas as pd

from sine_bench.fileio import file_sha256
from tests.helpers import ROOT

SOURCES = ROOT / "datasets" / "toy-smoke"
FILES = {"blue-circle": "blue-circle.png", "green-diamond": "green-diamond-wide.png"}


def _lines(out):
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_samples_hold_every_scored_edit_with_its_hashes_and_metrics(small_run):
    _, out, _ = small_run
    cells = pd.read_csv(out / "cells.csv")
    lines = _lines(out)
    assert [s["id"] for s in lines] == list(cells["cell_id"])
    results = json.loads((out / "results.json").read_text())
    for sample, (_, row) in zip(lines, cells.iterrows(), strict=True):
        assert sample["edit_sha256"] == file_sha256(out / row["image"])
        assert sample["source_sha256"] == file_sha256(SOURCES / FILES[row["item"]])
        assert sample["keys"]["edit"] == row["edit_key"]
        assert sample["settings"] == {"v": row["v"], "K": row["K"], "resolution": "64x96"} | {
            "seed": row["seed"]
        }
        assert set(sample["metrics"]) == set(results["metrics"])
        for metric, value in sample["metrics"].items():
            expected = row[metric]
            assert (value is None and math.isnan(expected)) or math.isclose(value, expected)


def test_results_record_the_environment_hashes_and_samples(small_run):
    _, out, _ = small_run
    results = json.loads((out / "results.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert results["format"] == "sine-bench.results/1"
    assert results["dataset"] == manifest["dataset"]
    assert len(results["dataset"]["content_hash"]) == 64
    assert results["seeds"] == [0, 1] and results["limited"] is False
    for field in ("git_commit", "libraries", "device", "model_identity", "method_version"):
        assert results[field] == manifest[field], field
    assert len(results["protocol_sha256"]) == len(results["scoring_sha256"]) == 20
    assert results["samples"]["sha256"] == file_sha256(out / "samples.jsonl")
    assert results["samples"]["lines"] == len(_lines(out))


def test_a_limited_run_keeps_the_first_items_and_says_so(small_run, limited_run):
    _, full, _ = small_run
    cells = pd.read_csv(limited_run / "cells.csv")
    assert set(cells["item"]) == {"blue-circle"}  # the dataset's first item
    manifest = json.loads((limited_run / "manifest.json").read_text())
    assert manifest["dataset"]["limit"] == {"requested": 1, "items": 1, "of": 2, "limited": True}
    results = json.loads((limited_run / "results.json").read_text())
    assert results["limited"] is True
    before = json.loads((full / "results.json").read_text())
    assert results["protocol_sha256"] != before["protocol_sha256"]
    assert results["dataset"]["content_hash"] != before["dataset"]["content_hash"]
    assert json.loads((full / "manifest.json").read_text())["dataset"].get("limit") is None
