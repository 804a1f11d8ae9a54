"""Stable Diffusion 1.5's architecture at full size with random weights (no download).

Every component has SD-1.5's published configuration (UNet 859.5 M parameters, VAE
83.7 M, CLIP ViT-L/14 text encoder 123.1 M); only the weights are random, so timings and
memory are those of the real model while the images are noise. ``sample_size`` sets the
native resolution (SD-1.5: 64 latents = 512 px); it changes no weight shape.
"""

from __future__ import annotations

from pathlib import Path

import torch


def sd15_unet(sample_size: int = 64):
    """UNet2DConditionModel with Stable Diffusion 1.5's configuration."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
    )


def sd15_vae(sample_size: int = 512):
    """AutoencoderKL with SD's configuration (8x downsampling, 4 latent channels)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=sample_size,
        scaling_factor=0.18215,
    )


def sd15_text_encoder():
    """CLIP ViT-L/14's text transformer (SD 1.x's text encoder)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        projection_dim=768,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return CLIPTextModel(config)


def build_sd15_random_dir(folder: str | Path, native: int = 512, seed: int = 0) -> dict:
    """Write a diffusers StableDiffusionPipeline directory; returns parameter counts."""
    from sine_bench.models.loading import save_model
    from sine_bench.sine import DiffusionModel, sd_ddim_scheduler
    from sine_bench.tokenizer import offline_clip_tokenizer

    torch.manual_seed(seed)
    model = DiffusionModel(
        vae=sd15_vae(native),
        unet=sd15_unet(native // 8),
        text_encoder=sd15_text_encoder(),
        tokenizer=offline_clip_tokenizer(),
        scheduler=sd_ddim_scheduler(),
    )
    save_model(model, folder)
    return {
        name: sum(p.numel() for p in getattr(model, name).parameters())
        for name in ("unet", "vae", "text_encoder")
    }
