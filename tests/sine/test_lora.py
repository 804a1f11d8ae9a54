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
    from sine_bench.models.tiny_random import build_tiny_random

    return build_tiny_random(seed=0)


def build_plain_output():
    """The pretrained tiny UNet's output on ``_unet_out``'s inputs (a fresh copy)."""
    from sine_bench.models.tiny_random import build_tiny_random

    return _unet_out(build_tiny_random(seed=0).unet)


@pytest.fixture(scope="module")
def lora_run(tiny_model, source_image, tmp_path_factory):
    before = {k: v.clone() for k, v in tiny_model.unet.state_dict().items()}
    result = finetune(tiny_model, source_image, PROMPT, SETTINGS, progress=False)
    folder = tmp_path_factory.mktemp("lora")
    save_finetune(result, folder)
    return result, folder, before


def _base_weights(unet) -> dict:
    """The base model's own weights, under their plain names (peft wraps adapted layers
    as ``<name>.base_layer``)."""
    return {
        k.replace(".base_layer", ""): v
        for k, v in unet.state_dict().items()
        if ".lora_" not in k and "lora_magnitude" not in k
    }


def test_only_the_adapter_trains_and_base_is_untouched(tiny_model, lora_run):
    """The adapter trains on the resident base UNet (no copy), whose own weights and,
    outside the fine-tuned model's view, outputs stay the pretrained ones."""
    result, _, before = lora_run
    after = _base_weights(tiny_model.unet)
    assert after.keys() == before.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    trained = result.model.unet
    assert isinstance(trained, LoraView) and trained.base is tiny_model.unet
    assert has_lora(tiny_model.unet)
    plain = build_plain_output()
    assert torch.equal(_unet_out(tiny_model.unet), plain)
    assert not torch.allclose(_unet_out(trained), plain)


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


def test_settings_round_trip():
    assert FinetuneSettings.from_dict(SETTINGS.to_dict()) == SETTINGS
    assert "lora" not in FinetuneSettings().to_dict()
    with_patches = FinetuneSettings(lora=LoraSettings(), patches=PatchSettings(grid=8))
    assert FinetuneSettings.from_dict(with_patches.to_dict()) == with_patches
    with pytest.raises(ValueError, match="rank"):
        LoraSettings(rank=0)


PATCH_SETTINGS = FinetuneSettings(
    steps=6,
    learning_rate=1e-2,
    train_text_encoder=False,
    lora=LoraSettings(rank=4),
    patches=PatchSettings(grid=16),
)


def test_lora_with_patches_trains_with_a_gated_position_encoding(source_image, tmp_path):
    """sine-lora-patch: the adapter and the position encoding live on the shared base
    UNet, both on only inside the fine-tuned model's view; saved and reloaded they give
    the same edits, and a mismatched G is refused."""
    from sine_bench.models.tiny_random import build_tiny_random
    from sine_bench.sine import PositionEncodingError
    from sine_bench.sine.unet import PE_FILENAME, position_encoding_config

    model = build_tiny_random(seed=0)
    plain = _unet_out(model.unet)
    result = finetune(model, source_image, PROMPT, PATCH_SETTINGS, progress=False)
    assert result.position_encoding is not None and result.position_encoding.grid == 16
    assert torch.equal(_unet_out(model.unet), plain)  # pretrained calls: no adapter, no PE
    with_pe = _unet_out(result.model.unet)
    model.unet.enable_adapters()  # outside the view the gated PE stays off: adapter alone
    try:
        adapter_only = _unet_out(model.unet)
    finally:
        model.unet.disable_adapters()
    assert not torch.allclose(with_pe, adapter_only) and not torch.allclose(with_pe, plain)

    save_finetune(result, tmp_path / "ft")
    assert (tmp_path / "ft" / "unet_lora" / PE_FILENAME).is_file()
    kwargs = dict(v=0.5, k=200, steps=4, height=64, width=96, seed=2)
    a = sine_edit(model, result.model, "a green disc", **kwargs)
    loaded = load_finetune(tmp_path / "ft", model, expect_grid=16)
    assert loaded.position_encoding == result.position_encoding
    b = sine_edit(model, loaded.model, "a green disc", **kwargs)
    assert torch.equal(a, b)
    assert torch.equal(_unet_out(model.unet), plain)
    with pytest.raises(PositionEncodingError, match="G=32"):
        load_finetune(tmp_path / "ft", model, expect_grid=32)
    with pytest.raises(PositionEncodingError, match="silently drop"):
        load_finetune(tmp_path / "ft", model, expect_grid=None)
    # a full fine-tune afterwards starts from the plain base: adapter and PE detached
    finetune(model, source_image, PROMPT, FinetuneSettings(steps=1), progress=False)
    assert not has_lora(model.unet) and position_encoding_config(model.unet) is None
    assert torch.equal(_unet_out(model.unet), plain)
