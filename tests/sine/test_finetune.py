"""Fine-tuning on one image: it learns, it is seeded, it saves and loads faithfully."""

import pytest
import torch
import torch.nn.functional as F

from sine_bench.sine import (
    FinetuneDivergedError,
    FinetuneSettings,
    PatchSettings,
    PositionEncodingError,
    finetune,
    load_finetune,
    save_finetune,
    sine_edit,
)
from sine_bench.sine.patches import resize_image

PROMPT = "a photo of a sks disc"


def _eval_loss(model, unet, text_encoder, image) -> float:
    """Noise MSE on the training image over a fixed set of timesteps and noises."""
    g = torch.Generator().manual_seed(123)
    x0 = model.encode_distribution(resize_image(image, (64, 64))[None]).mean
    x0 = x0 * model.vae.config.scaling_factor
    text = text_encoder(model.tokenize([PROMPT]))[0]
    losses = []
    with torch.no_grad():
        for t in range(50, 1000, 100):
            noise = torch.randn(x0.shape, generator=g)
            tt = torch.tensor([t])
            pred = unet(model.scheduler.add_noise(x0, noise, tt), tt, text).sample
            losses.append(F.mse_loss(pred, noise).item())
    return sum(losses) / len(losses)


def _params(module):
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def test_short_finetune_lowers_loss_and_changes_unet_and_text_encoder(tiny_model, source_image):
    unet0, te0, vae0 = (
        _params(tiny_model.unet),
        _params(tiny_model.text_encoder),
        _params(tiny_model.vae),
    )
    before = _eval_loss(tiny_model, tiny_model.unet, tiny_model.text_encoder, source_image)
    result = finetune(
        tiny_model,
        source_image,
        PROMPT,
        FinetuneSettings(steps=40, learning_rate=2e-4, seed=0),
        progress=False,
    )
    after = _eval_loss(tiny_model, result.model.unet, result.model.text_encoder, source_image)
    assert after < 0.9 * before, (before, after)
    assert not torch.equal(_params(result.model.unet), unet0)
    assert not torch.equal(_params(result.model.text_encoder), te0)
    # the pretrained model and the VAE are untouched
    assert torch.equal(_params(tiny_model.unet), unet0)
    assert torch.equal(_params(tiny_model.text_encoder), te0)
    assert torch.equal(_params(tiny_model.vae), vae0)
    assert len(result.losses) == 40


def test_frozen_text_encoder_option(tiny_model, source_image):
    settings = FinetuneSettings(steps=3, learning_rate=1e-4, train_text_encoder=False)
    result = finetune(tiny_model, source_image, PROMPT, settings, progress=False)
    assert torch.equal(_params(result.model.text_encoder), _params(tiny_model.text_encoder))


def test_same_seed_same_finetune(tiny_model, source_image):
    settings = FinetuneSettings(
        steps=4, learning_rate=1e-4, seed=7, x0_l1_weight=1.0, patches=PatchSettings(grid=16)
    )
    a = finetune(tiny_model, source_image, PROMPT, settings, progress=False)
    b = finetune(tiny_model, source_image, PROMPT, settings, progress=False)
    assert a.losses == b.losses
    assert torch.equal(_params(a.model.unet), _params(b.model.unet))


def test_gradient_checkpointing_gives_the_same_steps(tiny_model, source_image):
    base = FinetuneSettings(steps=3, learning_rate=1e-4, seed=1)
    ckpt = FinetuneSettings(steps=3, learning_rate=1e-4, seed=1, gradient_checkpointing=True)
    a = finetune(tiny_model, source_image, PROMPT, base, progress=False)
    b = finetune(tiny_model, source_image, PROMPT, ckpt, progress=False)
    assert a.losses == pytest.approx(b.losses, rel=1e-4)


def test_nan_loss_stops_with_clear_error(tiny_model, source_image):
    bad = source_image.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(FinetuneDivergedError, match="loss became nan at step 0"):
        finetune(tiny_model, bad, PROMPT, FinetuneSettings(steps=3), progress=False)


@pytest.mark.parametrize("patches", [None, PatchSettings(grid=16)])
def test_save_load_round_trip_gives_identical_outputs(tiny_model, source_image, tmp_path, patches):
    settings = FinetuneSettings(steps=3, learning_rate=1e-4, patches=patches)
    result = finetune(tiny_model, source_image, PROMPT, settings, progress=False)
    save_finetune(result, tmp_path / "ft")
    loaded = load_finetune(tmp_path / "ft", tiny_model)
    assert loaded.settings == settings
    assert loaded.losses == result.losses
    assert loaded.position_encoding == result.position_encoding
    kwargs = dict(v=0.5, k=200, steps=4, height=64, width=96, seed=2)
    a = sine_edit(tiny_model, result.model, "a green disc", **kwargs)
    b = sine_edit(tiny_model, loaded.model, "a green disc", **kwargs)
    assert torch.equal(a, b)


def test_loading_patch_finetune_without_or_with_other_grid_fails(
    tiny_model, source_image, tmp_path
):
    settings = FinetuneSettings(steps=1, learning_rate=1e-4, patches=PatchSettings(grid=16))
    save_finetune(
        finetune(tiny_model, source_image, PROMPT, settings, progress=False), tmp_path / "ft"
    )
    with pytest.raises(PositionEncodingError, match="silently drop"):
        load_finetune(tmp_path / "ft", tiny_model, expect_grid=None)
    with pytest.raises(PositionEncodingError, match="G=16.*G=8"):
        load_finetune(tmp_path / "ft", tiny_model, expect_grid=8)
    assert load_finetune(tmp_path / "ft", tiny_model, expect_grid=16).position_encoding.grid == 16


def test_plain_finetune_refuses_a_requested_grid(tiny_model, source_image, tmp_path):
    """The expect_grid gap: asking a full-image fine-tune for G=32 is an error, not a
    silent load without the encoding the caller expects."""
    settings = FinetuneSettings(steps=1, learning_rate=1e-4)
    save_finetune(
        finetune(tiny_model, source_image, PROMPT, settings, progress=False), tmp_path / "ft"
    )
    with pytest.raises(PositionEncodingError, match="saved without a position encoding.*G=32"):
        load_finetune(tmp_path / "ft", tiny_model, expect_grid=32)
    assert load_finetune(tmp_path / "ft", tiny_model, expect_grid=None).position_encoding is None


def test_patch_finetune_cannot_be_loaded_by_plain_diffusers(tiny_model, source_image, tmp_path):
    """UNet2DConditionModel.from_pretrained(<finetune>/unet) fails loudly instead of
    loading the UNet without its position encoding; sine-bench's loader still works."""
    import json

    from diffusers import UNet2DConditionModel

    from sine_bench.sine.unet import PE_CLASS_NAME

    settings = FinetuneSettings(steps=1, learning_rate=1e-4, patches=PatchSettings(grid=16))
    save_finetune(
        finetune(tiny_model, source_image, PROMPT, settings, progress=False), tmp_path / "ft"
    )
    unet_dir = tmp_path / "ft" / "unet"
    with pytest.raises(OSError, match="diffusion_pytorch_model"):
        UNet2DConditionModel.from_pretrained(unet_dir)
    config = json.loads((unet_dir / "config.json").read_text())
    assert config["_class_name"] == PE_CLASS_NAME
    assert config["_sine_position_encoding"]["grid"] == 16
    assert "load_unet" in (unet_dir / "README.md").read_text()
    assert load_finetune(tmp_path / "ft", tiny_model).position_encoding.grid == 16


def test_patch_finetunes_saved_before_the_marker_still_load(tiny_model, source_image, tmp_path):
    """The earlier layout (plain weights file + sine_position_encoding.json) loads with its
    encoding, as before."""
    from sine_bench.sine.unet import write_position_encoding

    settings = FinetuneSettings(steps=1, learning_rate=1e-4, patches=PatchSettings(grid=16))
    result = finetune(tiny_model, source_image, PROMPT, settings, progress=False)
    save_finetune(result, tmp_path / "ft")
    old = tmp_path / "ft" / "unet"
    for path in old.iterdir():
        path.unlink()
    result.model.unet.save_pretrained(old)  # what save_unet wrote before
    write_position_encoding(result.position_encoding, old)
    loaded = load_finetune(tmp_path / "ft", tiny_model, expect_grid=16)
    kwargs = dict(v=0.5, k=200, steps=3, height=64, width=64, seed=0)
    a = sine_edit(tiny_model, result.model, "a green disc", **kwargs)
    assert torch.equal(a, sine_edit(tiny_model, loaded.model, "a green disc", **kwargs))
