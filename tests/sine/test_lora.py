"""sine-lora: an adapter instead of a UNet copy; the base UNet stays the pretrained model."""

import pytest
import torch

from sine_bench.sine import (
    FinetuneSettings,
    LoraSettings,
    PatchSettings,
    finetune,
    load_finetune,
    save_finetune,
    sine_edit,
)
from sine_bench.sine.lora import LoraView, has_lora

PROMPT = "a photo of a sks disc"
SETTINGS = FinetuneSettings(
    steps=6, learning_rate=1e-2, train_text_encoder=False, lora=LoraSettings(rank=4)
)


def _unet_out(unet, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1, 4, 16, 16, generator=g)
    text = torch.randn(1, 77, 32, generator=g)
    with torch.no_grad():
        return unet(z, torch.tensor([500]), text).sample


@pytest.fixture(scope="module")
def tiny_model():
    """A private tiny model: these tests attach adapters to its UNet."""
    from sine_bench.tiny_random import build_tiny_random

    return build_tiny_random(seed=0)


@pytest.fixture(scope="module")
def lora_run(tiny_model, source_image, tmp_path_factory):
    before = {k: v.clone() for k, v in tiny_model.unet.state_dict().items()}
    result = finetune(tiny_model, source_image, PROMPT, SETTINGS, progress=False)
    folder = tmp_path_factory.mktemp("lora")
    save_finetune(result, folder)
    return result, folder, before


def test_only_the_adapter_trains_and_base_is_untouched(tiny_model, lora_run):
    result, _, before = lora_run
    after = tiny_model.unet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    trained = result.model.unet
    assert has_lora(trained)
    assert not torch.allclose(_unet_out(trained), _unet_out(tiny_model.unet))


def test_stored_finetune_is_the_adapter_only(tiny_model, lora_run):
    _, folder, _ = lora_run
    assert not (folder / "unet").exists()
    adapter = sum(p.stat().st_size for p in (folder / "unet_lora").iterdir())
    full = sum(p.numel() * p.element_size() for p in tiny_model.unet.parameters())
    assert 0 < adapter < full / 3


def test_loaded_adapter_reproduces_training_and_keeps_base_pretrained(tiny_model, lora_run):
    result, folder, _ = lora_run
    plain = _unet_out(tiny_model.unet)
    loaded = load_finetune(folder, tiny_model)
    assert isinstance(loaded.model.unet, LoraView)
    assert loaded.model.unet.base is tiny_model.unet  # one resident base UNet
    torch.testing.assert_close(_unet_out(loaded.model.unet), _unet_out(result.model.unet))
    assert torch.equal(_unet_out(tiny_model.unet), plain)  # adapter off outside the view
    image = sine_edit(tiny_model, loaded.model, "a blue square", v=0.6, k=500, steps=4)
    assert image.shape == (1, 3, 64, 64)
    assert torch.equal(_unet_out(tiny_model.unet), plain)


def test_new_finetune_detaches_the_attached_adapter(tiny_model, lora_run, source_image):
    _, folder, _ = lora_run
    loaded = load_finetune(folder, tiny_model)
    keys = set(tiny_model.unet.state_dict())
    finetune(tiny_model, source_image, PROMPT, FinetuneSettings(steps=1), progress=False)
    assert not has_lora(tiny_model.unet)
    plain = set(tiny_model.unet.state_dict())
    assert not any("lora" in k or "base_layer" in k for k in plain)
    assert {k for k in keys if "lora" not in k and "base_layer" not in k} <= plain
    with pytest.raises(RuntimeError, match="detached"):
        _unet_out(loaded.model.unet)


def test_settings_round_trip_and_reject_patches():
    assert FinetuneSettings.from_dict(SETTINGS.to_dict()) == SETTINGS
    assert "lora" not in FinetuneSettings().to_dict()
    with pytest.raises(ValueError, match="LoRA"):
        FinetuneSettings(lora=LoraSettings(), patches=PatchSettings(grid=8))
    with pytest.raises(ValueError, match="rank"):
        LoraSettings(rank=0)
