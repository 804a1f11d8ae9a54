"""The three prediction types a scheduler can declare: SD 1.x's epsilon, SD 2.x 768's
v_prediction and 'sample' (x0). Training targets, the implied x0, and sampling are
pinned against each other and against an exact oracle denoiser."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from sine_bench.sine import DiffusionModel, FinetunedModel, sample_latents, sd_ddim_scheduler
from sine_bench.sine.finetune import predicted_x0, training_target
from sine_bench.sine.grid_sampler import EditRequest, sample_grid
from sine_bench.sine.sampler import SinePlan

KINDS = ("epsilon", "v_prediction", "sample")


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(2, 4, 8, 8, generator=g)
    noise = torch.randn(2, 4, 8, 8, generator=g)
    return x0, noise, torch.tensor([37, 803])


@pytest.mark.parametrize("kind", KINDS)
def test_training_target_and_implied_x0(kind):
    scheduler = sd_ddim_scheduler(prediction_type=kind)
    x0, noise, t = _batch()
    a = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    expected = {
        "epsilon": noise,
        "v_prediction": a.sqrt() * noise - (1 - a).sqrt() * x0,  # Salimans & Ho (2022)
        "sample": x0,
    }[kind]
    target = training_target(scheduler, x0, noise, t)
    torch.testing.assert_close(target, expected)
    z_t = scheduler.add_noise(x0, noise, t)
    # a perfect prediction implies the true x0 (what the x0-L1 term compares against)
    torch.testing.assert_close(predicted_x0(scheduler, z_t, target, t), x0, atol=1e-4, rtol=1e-4)


def test_unknown_prediction_type_is_refused():
    scheduler = sd_ddim_scheduler()
    scheduler.register_to_config(prediction_type="flow")
    with pytest.raises(ValueError, match="prediction_type 'flow'"):
        training_target(scheduler, *_batch())


class OracleUNet(nn.Module):
    """Predicts, for every noisy latent, exactly what a perfect denoiser of the fixed
    clean latent ``x0`` would, in the scheduler's prediction type."""

    def __init__(self, x0: torch.Tensor, scheduler, kind: str):
        super().__init__()
        self.conv_in = nn.Conv2d(4, 4, 1)  # dtype / device bookkeeping only
        self.config = SimpleNamespace(in_channels=4, sample_size=x0.shape[-1])
        self.x0, self.alphas, self.kind = x0, scheduler.alphas_cumprod, kind

    def forward(self, z, t, text):
        a = self.alphas[int(t)]
        x0 = self.x0.expand_as(z)
        eps = (z - a.sqrt() * x0) / (1 - a).sqrt()
        out = {"epsilon": eps, "v_prediction": a.sqrt() * eps - (1 - a).sqrt() * x0}
        return SimpleNamespace(sample=out.get(self.kind, x0))


def _oracle_model(tiny_model, kind, x0):
    scheduler = sd_ddim_scheduler(prediction_type=kind)
    unet = OracleUNet(x0, scheduler, kind)
    model = DiffusionModel(
        tiny_model.vae, unet, tiny_model.text_encoder, tiny_model.tokenizer, scheduler
    )
    return model, FinetunedModel(unet, tiny_model.text_encoder, "a photo of a sks disc")


def test_sampling_is_correct_for_every_prediction_type(tiny_model):
    """From pure noise, DDIM driven by the oracle lands on its clean latent (up to the
    last step's sqrt(1 - alpha_0) = 0.03 noise) in every type, through SINE's guided
    combination and the grid sampler alike; reading v as epsilon would land far off."""
    x0 = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    finals = {}
    for kind in KINDS:
        model, ft = _oracle_model(tiny_model, kind, x0)
        plan = SinePlan(v=0.6, k=300, guidance_scale=5.0)
        generator = torch.Generator().manual_seed(0)
        z = sample_latents(
            model, [ft], plan, "a red disc", height=64, width=64, steps=10, generator=generator
        )
        grid = sample_grid(
            model, ft, [EditRequest("a red disc", 0.6, 300, 5.0, 0)], height=64, width=64, steps=10
        )
        torch.testing.assert_close(grid[0], z)
        finals[kind] = z
    for kind in KINDS:
        assert (finals[kind] - x0).abs().mean() < 0.05, kind
        torch.testing.assert_close(finals[kind], finals["epsilon"], atol=1e-3, rtol=1e-3)
    # the control: the v oracle read as epsilon (a wrong scheduler config) is far off
    model, ft = _oracle_model(tiny_model, "epsilon", x0)
    model.unet.kind = ft.unet.kind = "v_prediction"
    wrong = sample_latents(
        model,
        [ft],
        SinePlan(v=0.6, k=300, guidance_scale=5.0),
        "a red disc",
        height=64,
        width=64,
        steps=10,
        generator=torch.Generator().manual_seed(0),
    )
    assert (wrong - x0).abs().mean() > 0.3


def _velocity_loss(model, unet, text_encoder, image) -> float:
    from sine_bench.sine.patches import resize_image

    g = torch.Generator().manual_seed(123)
    size = (model.native_resolution,) * 2
    x0 = model.encode_distribution(resize_image(image, size)[None]).mean
    x0 = x0 * model.vae.config.scaling_factor
    text = text_encoder(model.tokenize(["a photo of a sks disc"]))[0]
    losses = []
    with torch.no_grad():
        for t in range(50, 1000, 100):
            noise = torch.randn(x0.shape, generator=g)
            tt = torch.tensor([t])
            pred = unet(model.scheduler.add_noise(x0, noise, tt), tt, text).sample
            target = model.scheduler.get_velocity(x0, noise, tt)
            losses.append(float(((pred - target) ** 2).mean()))
    return sum(losses) / len(losses)


def test_sd2_style_v_prediction_model_fine_tunes_towards_the_velocity(source_image, tmp_path):
    """A tiny SD 2.x-style model (v-prediction, linear projections, GELU text encoder)
    round-trips through a diffusers directory with its prediction type, and fine-tuning it
    lowers the velocity loss on the training image."""
    from sine_bench.model_family import model_family
    from sine_bench.models.loading import load_model, save_model
    from sine_bench.models.tiny_random import build_tiny_random_sd2
    from sine_bench.sine import FinetuneSettings, finetune

    save_model(build_tiny_random_sd2(seed=0), tmp_path / "sd2")
    model = load_model(str(tmp_path / "sd2"), device="cpu")
    assert model.scheduler.config.prediction_type == "v_prediction"
    assert model_family(str(tmp_path / "sd2")).prediction_type == "v_prediction"
    assert model.native_resolution == 96
    before = _velocity_loss(model, model.unet, model.text_encoder, source_image)
    settings = FinetuneSettings(steps=30, learning_rate=3e-4, seed=0)
    result = finetune(model, source_image, "a photo of a sks disc", settings, progress=False)
    after = _velocity_loss(model, result.model.unet, result.model.text_encoder, source_image)
    assert after < 0.8 * before, (before, after)
