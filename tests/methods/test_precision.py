"""Every method runs on a half-precision base (``model.dtype: bfloat16``): a float32
fine-tune (SINE's, which dreambooth samples alone) or imagic's float32 UNet and
embeddings meet bfloat16 latents, and the trainings are mixed precision, not bfloat16
weights whose small updates round away."""

import json

import pytest
import torch

from tests.methods.helpers import run_small

METHODS = {
    "dreambooth": {"grid": {"finetune.method": ["sine-full", "sine-lora-patch"]}},
    "ddim-inversion": {"grid": {"guidance": [3.0]}, "knobs": {"null_text_steps": 1}},
    "imagic": {"knobs": {"embed_steps": 2, "finetune_steps": 2}, "grid": {"eta": [0.5]}},
    "sdedit": {"grid": {"strength": [0.5]}},
}


@pytest.fixture(scope="module")
def bfloat16_run(tmp_path_factory, one_thread):
    tmp = tmp_path_factory.mktemp("bf16")
    grid = {"v": None, "K": None, "resolution": ["64x96"], "seeds": [0]}
    model = {"name": "tiny-random", "dtype": "bfloat16"}
    return run_small(tmp, model=model, methods=METHODS, grid=grid, metrics=["psnr"]), tmp


def test_every_method_edits_on_a_bfloat16_base(bfloat16_run):
    (cells, out), _ = bfloat16_run
    assert set(cells["method"]) == set(METHODS)
    assert cells["psnr"].notna().all() and (cells["psnr"] > 0).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model_identity"]["dtype"] == "bfloat16"


def test_imagic_trains_in_float32_and_moves_the_weights(bfloat16_run):
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    from sine_bench.models.loading import load_model

    _, tmp = bfloat16_run
    folders = [p.parent for p in (tmp / "store").rglob("imagic.json")]
    assert folders
    base = load_model("tiny-random", device="cpu", dtype="bfloat16").unet
    for folder in folders:
        unet = UNet2DConditionModel.from_pretrained(folder / "unet")
        assert unet.conv_in.weight.dtype == torch.float32
        with torch.no_grad():
            moved = (unet.conv_in.weight - base.conv_in.weight.float()).abs().max()
        assert float(moved) > 0  # two Adam steps at lr 2e-6 survive in float32
        embeddings = load_file(folder / "embeddings.safetensors")
        assert embeddings["optimised"].dtype == torch.float32
        assert not torch.equal(embeddings["optimised"], embeddings["target"])


def test_imagic_after_a_lora_fine_tune_trains_the_plain_base(tmp_path, source_image):
    """A LoRA fine-tune stays attached (disabled) to the shared base UNet after training;
    imagic's UNet copy must be the plain pretrained one, not base + adapter layers."""
    from diffusers import UNet2DConditionModel

    from sine_bench.methods import FinetuneJob, get_method
    from sine_bench.models.loading import load_model
    from sine_bench.sine.lora import LoraSettings, add_lora, has_lora

    model = load_model("tiny-random", device="cpu")
    add_lora(model.unet, LoraSettings())
    settings = {"seed": 0, "embed_steps": 1, "embed_lr": 1e-3}
    settings |= {"finetune_steps": 1, "finetune_lr": 1e-4}
    job = FinetuneJob("k", "item", tmp_path / "x.png", "a red circle", settings, "imagic")
    get_method("imagic").train(model, source_image, job, tmp_path)
    assert not has_lora(model.unet)
    saved = UNet2DConditionModel.from_pretrained(tmp_path / "unet")
    assert set(saved.state_dict()) == set(model.unet.state_dict())
