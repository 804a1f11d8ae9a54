"""Target metrics in a run: scored against the item's ground-truth edit, and refused in
one line before anything computes on a dataset that ships no targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml
from PIL import Image
from typer.testing import CliRunner

from sine_bench.cli import app
from tests.helpers import write_protocol


def _targets_dataset(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("source.png", "target.png"):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / name)
    prompt = "a large red circle on a white background"
    item = {"id": "a", "image": "source.png", "class_word": "circle", "prompts": [prompt]}
    item["targets"] = {prompt: "target.png"}
    (folder / "manifest.yaml").write_text(yaml.safe_dump({"items": [item]}))


def test_a_target_metric_on_a_dataset_without_targets_is_one_line_exit_2(tmp_path):
    protocol = write_protocol(tmp_path, metrics=["psnr", "l1_target"])  # toy-smoke: none
    result = CliRunner().invoke(app, ["plan", str(protocol)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: metrics: 'l1_target' compares each edit with the dataset")
    assert "item 'blue-circle' has none for prompt 0" in lines[0]
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.png"))


def test_a_run_scores_the_edit_against_its_target(tmp_path):
    from sine_bench.runner.run import run_protocol

    _targets_dataset(tmp_path / "data")
    protocol = write_protocol(
        tmp_path,
        dataset=str(tmp_path / "data"),
        methods={"pretrained": {}},
        grid={"v": None, "K": None, "resolution": ["native"], "seeds": [0]},
        edit={"steps": 2},
        metrics=["l1_target", "l2_target"],
    )
    out = run_protocol(protocol, progress=False, threads=1, log=lambda *_: None)
    (row,) = pd.read_csv(out / "cells.csv").to_dict("records")
    edit = np.asarray(Image.open(out / row["image"]).convert("RGB").resize((64, 64)), float)
    target = np.asarray(Image.open(tmp_path / "data" / "target.png"), float)
    assert abs(row["l1_target"] - np.abs(edit - target).mean() / 255) < 1e-6
    assert abs(row["l2_target"] - (((edit - target) / 255) ** 2).mean()) < 1e-6
