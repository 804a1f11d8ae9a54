"""The pieces of a latent text-to-image diffusion model that SINE needs, in one bundle.

Works for real Stable Diffusion 1.x/2.x checkpoints and for the tiny models of the
same architectures: nothing here depends on sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from ..errors import InputError


class ResolutionError(InputError):
    """An output size the model cannot produce."""


def sd_ddim_scheduler(num_train_timesteps: int = 1000, **overrides) -> DDIMScheduler:
    """DDIM with Stable Diffusion's training schedule (the paper's sampler)."""
    config = dict(
        num_train_timesteps=num_train_timesteps,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        timestep_spacing="leading",
    )
    config.update(overrides)
    return DDIMScheduler(**config)


@dataclass
class DiffusionModel:
    """VAE + UNet + text encoder + tokenizer + the scheduler they were trained with."""

    vae: AutoencoderKL
    unet: UNet2DConditionModel
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: DDIMScheduler

    @property
    def device(self) -> torch.device:
        """The VAE's device: it stays put while a fine-tune offloads the pretrained UNet."""
        return next(self.vae.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def vae_factor(self) -> int:
        """Pixels per latent cell (8 for SD, 4 for a 3-block VAE)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def native_resolution(self) -> int:
        """The square pixel size the UNet was trained at."""
        size = self.unet.config.sample_size
        size = size[0] if isinstance(size, (list, tuple)) else size
        return int(size) * self.vae_factor

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    def check_resolution(self, height: int, width: int, max_side: int = 4096) -> None:
        """Raise a ResolutionError naming ``HxW`` unless the VAE can produce it."""
        f = self.vae_factor
        if height <= 0 or width <= 0:
            raise ResolutionError(f"resolution {height}x{width} must be positive")
        if height % f or width % f:
            raise ResolutionError(
                f"resolution {height}x{width} is not a multiple of the VAE factor {f}"
            )
        if height > max_side or width > max_side:
            raise ResolutionError(
                f"resolution {height}x{width} exceeds the largest supported side {max_side}"
            )

    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        return ids.to(self.text_encoder.device)

    def encode_text(
        self, prompts: list[str], text_encoder: CLIPTextModel | None = None
    ) -> torch.Tensor:
        """Per-token embeddings the UNet cross-attends to (last hidden state)."""
        encoder = text_encoder if text_encoder is not None else self.text_encoder
        return encoder(self.tokenize(prompts))[0]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents to images in [0, 1], (B, 3, H, W), float32."""
        scaled = latents / self.vae.config.scaling_factor
        image = self.vae.decode(scaled.to(self.vae.dtype)).sample
        return ((image.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    @torch.no_grad()
    def encode_distribution(self, images: torch.Tensor):
        """The VAE posterior of images in [-1, 1] (sample it with a generator)."""
        return self.vae.encode(images.to(device=self.device, dtype=self.vae.dtype)).latent_dist
