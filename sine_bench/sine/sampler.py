"""The SINE edit: a DDIM loop from pure noise driven by model-based guidance.

Each step evaluates the pretrained UNet on the empty and the edit prompt (one
batched call, two evaluations) and, only where the guidance plan needs it, each
active fine-tuned UNet on its own training prompt. Output sizes are any multiple
of the VAE factor; a non-square image is just a non-square latent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from diffusers import DDIMScheduler, UNet2DConditionModel
from tqdm.auto import tqdm
from transformers import CLIPTextModel

from .components import DiffusionModel
from .guidance import (
    ModelWindow,
    is_guided,
    multi_model_guidance,
    pretrained_guidance,
    sine_guidance,
)


@dataclass
class FinetunedModel:
    """A fine-tuned UNet (with its PE, if any), its text encoder and training prompt."""

    unet: UNet2DConditionModel
    text_encoder: CLIPTextModel
    prompt: str


def weight_dtype(unet: torch.nn.Module) -> torch.dtype:
    """The dtype a UNet computes in (a LoRA view: its base's; the adapter may be fp32)."""
    return getattr(unet, "base", unet).conv_in.weight.dtype


def finetuned_prediction(
    unet: torch.nn.Module, z: torch.Tensor, t: torch.Tensor, text: torch.Tensor
) -> torch.Tensor:
    """A fine-tuned UNet's prediction in the sampler's dtype. A full fine-tune keeps the
    float32 weights it was trained in when the base runs in half precision (its update is
    below bfloat16's resolution at the paper's learning rate), so inputs are cast to it."""
    dtype = weight_dtype(unet)
    if dtype == z.dtype:
        return unet(z, t, text).sample
    return unet(z.to(dtype), t, text.to(dtype)).sample.to(z.dtype)


class GuidancePlan(Protocol):
    """Decides, per timestep, which fine-tuned models run and how predictions combine."""

    def models_at(self, t: int) -> list[int]: ...

    def combine(
        self, t: int, eps_u: torch.Tensor, eps_c: torch.Tensor, eps_models: list[torch.Tensor]
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class SinePlan:
    """Single fine-tuned model: weight v on the pretrained model while t > K."""

    v: float
    k: int
    guidance_scale: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.v <= 1.0:
            raise ValueError(f"v must be in [0, 1], got {self.v}")
        if not 0 <= self.k <= 1000:
            raise ValueError(f"K must be in [0, 1000], got {self.k}")

    def models_at(self, t: int) -> list[int]:
        # v = 1 gives the fine-tuned model zero weight: skip its evaluation entirely.
        return [0] if is_guided(t, self.k) and self.v < 1.0 else []

    def combine(self, t, eps_u, eps_c, eps_models):
        if eps_models:
            return sine_guidance(eps_u, eps_c, eps_models[0], v=self.v, w=self.guidance_scale)
        return pretrained_guidance(eps_u, eps_c, self.guidance_scale)


@dataclass(frozen=True)
class PretrainedPlan:
    """No fine-tuned model: plain classifier-free guidance (text-to-image)."""

    guidance_scale: float

    def models_at(self, t: int) -> list[int]:
        return []

    def combine(self, t, eps_u, eps_c, eps_models):
        return pretrained_guidance(eps_u, eps_c, self.guidance_scale)


@dataclass(frozen=True)
class MultiModelPlan:
    """Several fine-tuned models, each with a weight and its own timestep window."""

    windows: tuple[ModelWindow, ...]
    guidance_scale: float

    def models_at(self, t: int) -> list[int]:
        return [i for i, win in enumerate(self.windows) if win.active(t) and win.weight != 0.0]

    def combine(self, t, eps_u, eps_c, eps_models):
        if not eps_models:
            return pretrained_guidance(eps_u, eps_c, self.guidance_scale)
        weights = [self.windows[i].weight for i in self.models_at(t)]
        return multi_model_guidance(eps_u, eps_c, eps_models, weights, self.guidance_scale)


@dataclass
class EvaluationCounter:
    """Counts UNet evaluations: one per sample row per forward call, per model."""

    pretrained: int = 0
    finetuned: int = 0
    per_step: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.pretrained + self.finetuned


def make_scheduler(model: DiffusionModel, steps: int) -> DDIMScheduler:
    """A fresh DDIM scheduler (set_timesteps mutates state) with the model's schedule."""
    if steps < 1:
        raise ValueError(f"sampling steps must be >= 1, got {steps}")
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(steps)
    return scheduler


def initial_latents(
    model: DiffusionModel, height: int, width: int, generator: torch.Generator, batch: int = 1
) -> torch.Tensor:
    """Pure Gaussian noise at the latent size; drawn on the CPU so seeds mean the same
    thing on every device."""
    model.check_resolution(height, width)
    f = model.vae_factor
    shape = (batch, model.unet.config.in_channels, height // f, width // f)
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    return noise.to(device=model.device, dtype=model.dtype)


@torch.no_grad()
def sample_latents(
    model: DiffusionModel,
    finetuned: Sequence[FinetunedModel],
    plan: GuidancePlan,
    prompt: str,
    *,
    height: int,
    width: int,
    steps: int = 100,
    generator: torch.Generator,
    eta: float = 0.0,
    counter: EvaluationCounter | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Run the guided DDIM loop and return the final latents (1, C, H/f, W/f)."""
    scheduler = make_scheduler(model, steps)
    latents = initial_latents(model, height, width, generator) * scheduler.init_noise_sigma
    text_pre = model.encode_text(["", prompt])  # (2, L, D): unconditional, edit prompt
    text_ft = [model.encode_text([m.prompt], m.text_encoder) for m in finetuned]
    counter = counter if counter is not None else EvaluationCounter()

    for t in tqdm(scheduler.timesteps, desc="sampling", disable=not progress, leave=False):
        t_int = int(t)
        z = scheduler.scale_model_input(latents, t)
        eps_u, eps_c = model.unet(z.repeat(2, 1, 1, 1), t, text_pre).sample.chunk(2)
        evaluations = 2
        eps_models = []
        for i in plan.models_at(t_int):
            eps_models.append(finetuned_prediction(finetuned[i].unet, z, t, text_ft[i]))
            evaluations += 1
        eps = plan.combine(t_int, eps_u, eps_c, eps_models)
        latents = scheduler.step(eps, t, latents, eta=eta, generator=generator).prev_sample
        counter.pretrained += 2
        counter.finetuned += evaluations - 2
        counter.per_step.append(evaluations)
    return latents


def sine_edit(
    model: DiffusionModel,
    finetuned: FinetunedModel,
    prompt: str,
    *,
    v: float = 0.7,
    k: int = 400,
    guidance_scale: float = 7.5,
    height: int | None = None,
    width: int | None = None,
    steps: int = 100,
    seed: int = 0,
    counter: EvaluationCounter | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Edit with one fine-tuned model: an image (1, 3, H, W) in [0, 1]."""
    height = model.native_resolution if height is None else height
    width = model.native_resolution if width is None else width
    generator = torch.Generator().manual_seed(seed)
    latents = sample_latents(
        model,
        [finetuned],
        SinePlan(v=v, k=k, guidance_scale=guidance_scale),
        prompt,
        height=height,
        width=width,
        steps=steps,
        generator=generator,
        counter=counter,
        progress=progress,
    )
    return model.decode(latents)
