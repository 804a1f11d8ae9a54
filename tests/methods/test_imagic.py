"""imagic on the toy model: its own training per (image, target prompt) under its own
key; eta = 0 (the optimised embedding) reproduces the source more closely than eta = 1
(the target prompt's embedding).

Measured (toy model, two held-out scenes x two seeds, DDIM 10, w = 5, training 100
embedding steps at lr 1e-2 + 150 UNet steps at lr 1e-4): eta 0 is 16.6 dB /
st_lpips 0.30 from the source, eta 1 8.3 dB / 0.52."""

import json

import pytest

from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.plan import build_plan
from tests.helpers import write_protocol
from tests.methods.helpers import run_toy, toy_dataset

SEEDS = [20_004_000, 20_004_001]
TOY_IMAGIC = {"embed_steps": 100, "embed_lr": 1e-2, "finetune_steps": 150, "finetune_lr": 1e-4}


def test_imagic_trains_per_prompt_under_its_own_key(tmp_path):
    methods = {"sine": {}, "imagic": {"knobs": {"embed_steps": 1, "finetune_steps": 1}}}
    plan = build_plan(load_protocol(write_protocol(tmp_path, methods=methods)))
    imagic = {k: j for k, j in plan.finetunes.items() if j.trainer == "imagic"}
    sine = {k: j for k, j in plan.finetunes.items() if j.trainer == "sine"}
    prompts = sum(len(i.spec.prompts) for i in plan.items.values())
    assert len(imagic) == prompts and len(sine) == len(plan.items)
    assert not set(imagic) & set(sine)
    assert {j.prompt for j in imagic.values()} == {c.cell.prompt for c in plan.cells}


@pytest.fixture(scope="module")
def imagic_run(tmp_path_factory, one_thread):
    tmp = tmp_path_factory.mktemp("imagic")
    data = toy_dataset(tmp / "data", SEEDS)
    methods = {"imagic": {"knobs": TOY_IMAGIC, "grid": {"eta": [0.0, 1.0]}}}
    return run_toy(tmp, data, methods, seeds=[0, 1], metrics=["psnr", "lpips[alex]"])


def test_eta_zero_reproduces_the_source_more_closely_than_eta_one(imagic_run):
    cells, _ = imagic_run
    lpips = next(c for c in cells.columns if "lpips" in c)
    means = cells.groupby("imagic.eta")[["psnr", lpips]].mean()
    print(means)
    assert means.loc[0.0, "psnr"] > means.loc[1.0, "psnr"]
    assert means.loc[0.0, lpips] < means.loc[1.0, lpips]


def test_imagic_records_its_training(imagic_run):
    cells, out = imagic_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["fine-tune"]["training_steps"] == len(SEEDS) * 250
    assert (cells["cost.train_steps"] == 250).all() and (cells["cost.train_seconds"] > 0).all()
    assert (cells["cost.unet_evaluations"] == 20).all()
