"""Tiny, randomly initialised models of the real Stable Diffusion architectures.

Used by the tests and by ``model: tiny-random``: the same diffusers/transformers
classes as SD 1.x, small enough for a CPU, built from configs with no download.
Their outputs are noise-like; they exist to exercise every code path, not to edit.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from ..sine.components import DiffusionModel, sd_ddim_scheduler
from ..tokenizer import offline_clip_tokenizer
from ..toy.architecture import toy_vae


def tiny_vae() -> AutoencoderKL:
    """4x-downsampling VAE: the toy model's architecture (three blocks), random weights."""
    return toy_vae()


def tiny_unet(sample_size: int = 16, cross_attention_dim: int = 32) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=8,
        norm_num_groups=32,
    )


def tiny_text_encoder(hidden_size: int = 32, hidden_act: str = "quick_gelu") -> CLIPTextModel:
    config = CLIPTextConfig(
        hidden_act=hidden_act,
        vocab_size=49408,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return CLIPTextModel(config)


def build_tiny_random(seed: int = 0) -> DiffusionModel:
    """VAE (4x), UNet (latent 16 -> 64 px native), text encoder and tokenizer, seeded."""
    torch.manual_seed(seed)
    model = DiffusionModel(
        vae=tiny_vae(),
        unet=tiny_unet(),
        text_encoder=tiny_text_encoder(),
        tokenizer=offline_clip_tokenizer(),
        scheduler=sd_ddim_scheduler(),
    )
    for module in (model.vae, model.unet, model.text_encoder):
        module.eval().requires_grad_(False)
    return model


def tiny_sd2_unet() -> UNet2DConditionModel:
    """SD 2.x's UNet variant in miniature: linear attention projections, per-block head
    dimensions, a wider cross-attention than SD 1.x; native 96 px (SD 2's 768 / 8)."""
    return UNet2DConditionModel(
        sample_size=24,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=48,
        attention_head_dim=(4, 8),
        use_linear_projection=True,
        norm_num_groups=32,
    )


def build_tiny_random_sd2(seed: int = 0) -> DiffusionModel:
    """An SD 2.x-style (768-v) model: v-prediction scheduler, GELU text encoder (OpenCLIP's
    activation), the UNet above; random weights, seeded."""
    torch.manual_seed(seed)
    model = DiffusionModel(
        vae=tiny_vae(),
        unet=tiny_sd2_unet(),
        text_encoder=tiny_text_encoder(hidden_size=48, hidden_act="gelu"),
        tokenizer=offline_clip_tokenizer(),
        scheduler=sd_ddim_scheduler(prediction_type="v_prediction"),
    )
    for module in (model.vae, model.unet, model.text_encoder):
        module.eval().requires_grad_(False)
    return model
