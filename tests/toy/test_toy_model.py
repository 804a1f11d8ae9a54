"""The shipped toy model: loads offline, and a reduced `toy eval` catches a broken model.

The full measurement (`sine-bench toy eval --json`, 200 samples) is documented in
sine_bench/toy/README.md; here a handful of samples must still clear loose bars, which
a random or corrupted model fails (see test_random_model_fails_the_reduced_bars).
"""

import json

import pytest
import torch
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.models.loading import load_model
from sine_bench.toy.evaluate import text_to_image_accuracy, vae_psnr

# measured here on these 8 samples: background 1.0, colour 1.0, count 1.0, shape 0.83
LOOSE = {"t2i_background": 0.75, "t2i_color": 0.7, "t2i_count": 0.6}


@pytest.fixture(scope="module")
def toy():
    return load_model("toy", device="cpu")


def test_toy_model_is_the_sd_architecture_at_toy_size(toy):
    assert toy.native_resolution == 64 and toy.vae_factor == 4
    assert type(toy.unet).__name__ == "UNet2DConditionModel"
    assert len(toy.tokenizer) < 800
    ids = toy.tokenizer(["a red circle", "a blue square"]).input_ids
    assert ids[0] != ids[1]


def test_reduced_eval_clears_loose_bars(toy):
    assert vae_psnr(toy, n=16) > 25.0
    acc = text_to_image_accuracy(toy, n=8, steps=20, progress=False)
    for key, bar in LOOSE.items():
        assert acc[key] >= bar, acc


def test_random_model_fails_the_reduced_bars(toy):
    from sine_bench.models.tiny_random import build_tiny_random

    broken = load_model("toy", device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in broken.unet.parameters():
            p.copy_(torch.randn_like(p) * 0.02)
    acc = text_to_image_accuracy(broken, n=8, steps=20, progress=False)
    assert not all(acc[k] >= bar for k, bar in LOOSE.items()), acc
    assert vae_psnr(build_tiny_random(), n=4) < 20.0


def test_toy_eval_cli_json_on_a_few_samples():
    result = CliRunner().invoke(app, ["toy", "eval", "--json", "--n", "4", "--steps", "10"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in (
        "vae_psnr_db",
        "t2i_background",
        "t2i_color",
        "t2i_shape",
        "t2i_count",
        "clip_retrieval_top1",
        "clip_t_auroc",
        "lpips_rank_rate",
    ):
        assert key in report["results"], key
    assert set(report["passed"]) >= {"vae_psnr_db", "t2i_color", "clip_t_auroc"}
