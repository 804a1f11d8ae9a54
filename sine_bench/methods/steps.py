"""The steps the baseline methods share, in one place: the source latent, start noise,
one guided prediction, a DDIM loop over any timesteps, DDIM inversion, the denoising
loss of a training step, and counting the rows the UNet really sees.

Built on SINE's own pieces (``sine.sampler``: scheduler, start noise; ``sine.patches``:
resizing), so a baseline and SINE start from the same noise for the same seed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from diffusers import DDIMInverseScheduler, DDIMScheduler
from torch import nn

from ..sine import DiffusionModel, EvaluationCounter
from ..sine.finetune import training_target
from ..sine.patches import resize_image
from ..sine.precision import MixedPrecision
from ..sine.sampler import initial_latents, make_scheduler, weight_dtype


def ddim(model: DiffusionModel, steps: int) -> DDIMScheduler:
    """A fresh DDIM scheduler on the model's training schedule, timesteps set."""
    return make_scheduler(model, steps)


def start_noise(
    model: DiffusionModel, height: int, width: int, seed: int, scheduler: DDIMScheduler
) -> tuple[torch.Tensor, torch.Generator]:
    """SINE's start latent for ``seed`` (CPU-drawn) and the generator, which later DDIM
    steps with eta > 0 continue to draw from."""
    generator = torch.Generator().manual_seed(seed)
    noise = initial_latents(model, height, width, generator)
    return noise * scheduler.init_noise_sigma, generator


@torch.no_grad()
def source_latent(model: DiffusionModel, image: torch.Tensor, height: int, width: int):
    """The source ((3, H, W) in [-1, 1]) resized to the edit size and VAE-encoded: the
    posterior mean, scaled (deterministic, unlike diffusers' default posterior sample)."""
    pixels = resize_image(image, (height, width))[None]
    mean = model.encode_distribution(pixels).mean
    return (mean * model.vae.config.scaling_factor).to(model.dtype)


def predict(unet, z: torch.Tensor, t, text: torch.Tensor) -> torch.Tensor:
    """A UNet's prediction in ``z``'s dtype, the inputs cast to the dtype its weights are
    in: a fine-tune keeps float32 weights on a half-precision base (``sine.precision``),
    and optimised embeddings are float32. With one dtype throughout, a plain call."""
    dtype = weight_dtype(unet)
    return unet(z.to(dtype), t, text.to(dtype)).sample.to(z.dtype)


def guided_eps(unet, z, t, cond, uncond, guidance: float) -> torch.Tensor:
    """Classifier-free guidance in one UNet call: ``uncond + w (cond - uncond)``; at
    w = 1 that is the conditional prediction alone, so only that row is evaluated."""
    if guidance == 1.0:
        return predict(unet, z, t, cond)
    text = torch.cat([uncond.to(cond.dtype), cond])
    eps_u, eps_c = predict(unet, torch.cat([z, z]), t, text).chunk(2)
    return eps_u + guidance * (eps_c - eps_u)


def evaluations_per_step(guidance: float) -> int:
    """UNet rows one :func:`guided_eps` call evaluates."""
    return 1 if guidance == 1.0 else 2


@torch.no_grad()
def denoise(
    unet,
    scheduler: DDIMScheduler,
    latents: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor | Sequence[torch.Tensor],
    guidance: float,
    *,
    timesteps: Sequence | None = None,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The guided DDIM loop from ``latents`` over ``timesteps`` (default: all of the
    scheduler's). ``uncond`` may give one embedding per step (null-text inversion)."""
    timesteps = scheduler.timesteps if timesteps is None else timesteps
    for i, t in enumerate(timesteps):
        u = uncond if isinstance(uncond, torch.Tensor) else uncond[i]
        z = scheduler.scale_model_input(latents, t)
        eps = guided_eps(unet, z, t, cond, u, guidance)
        latents = scheduler.step(eps, t, latents, eta=eta, generator=generator).prev_sample
    return latents


def sample_from_noise(
    model: DiffusionModel, unet, cond: torch.Tensor, uncond: torch.Tensor, settings: dict
) -> torch.Tensor:
    """A guided DDIM sample from SINE's start noise for the edit's seed, size, steps,
    guidance and eta, with any UNet and text embeddings."""
    s = settings
    scheduler = ddim(model, s["steps"])
    z, generator = start_noise(model, s["height"], s["width"], s["seed"], scheduler)
    guidance, eta = s["guidance"], s["eta"]
    return denoise(unet, scheduler, z, cond, uncond, guidance, eta=eta, generator=generator)


@torch.no_grad()
def invert(
    unet, model: DiffusionModel, latents: torch.Tensor, cond: torch.Tensor, steps: int
) -> list[torch.Tensor]:
    """DDIM inversion (diffusers' DDIMInverseScheduler, the model's schedule) with the
    conditional prediction alone: the latents at every noise level the forward DDIM
    loop visits, from the clean latent to its first timestep's level."""
    inverse = DDIMInverseScheduler.from_config(model.scheduler.config)
    inverse.set_timesteps(steps)
    path = [latents]
    for t in inverse.timesteps:
        eps = predict(unet, path[-1], t, cond)
        path.append(inverse.step(eps, t, path[-1]).prev_sample)
    return path


def denoising_loss(
    unet,
    model: DiffusionModel,
    x0: torch.Tensor,
    text: torch.Tensor,
    generator: torch.Generator,
    precision: MixedPrecision,
) -> torch.Tensor:
    """One training step's loss: x0 (float32) noised at a uniform timestep, MSE of the
    UNet's prediction (under ``precision``'s autocast) against what the scheduler's
    prediction type asks for (SINE's ``training_target``: noise, velocity or sample)."""
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    t = torch.randint(0, model.num_train_timesteps, (1,), generator=generator).to(x0.device)
    z_t = model.scheduler.add_noise(x0, noise, t)
    target = training_target(model.scheduler, x0, noise, t)
    with precision.autocast():
        pred = unet(z_t, t, text).sample
    return F.mse_loss(pred.float(), target.float())


@contextmanager
def counting(
    counter: EvaluationCounter,
    pretrained: nn.Module | None = None,
    finetuned: nn.Module | None = None,
) -> Iterator[None]:
    """Count the rows every forward call of these modules sees, into ``counter``."""

    def hook(attribute: str):
        def count(module, args, kwargs):
            sample = args[0] if args else kwargs["sample"]
            setattr(counter, attribute, getattr(counter, attribute) + int(sample.shape[0]))

        return count

    handles = []
    for module, attribute in ((pretrained, "pretrained"), (finetuned, "finetuned")):
        if module is not None:
            handles.append(module.register_forward_pre_hook(hook(attribute), with_kwargs=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
