"""Tiny, randomly initialised models of the real Stable Diffusion architectures.

Used by the tests and by ``model: tiny-random``: the same diffusers/transformers
classes as SD 1.x, small enough for a CPU, built from configs with no download.
Their outputs are noise-like; they exist to exercise every code path, not to edit.
"""

from __future__ import annotations

from pathlib import Path

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


def tiny_editing_unet(in_channels: int = 4) -> UNet2DConditionModel:
    """A UNet for the editing pipelines' tests: cross-attention down to latent / 4 (where
    LEDITS++ reads its attention masks, as SD's 64 -> 16), ``in_channels`` 8 for
    InstructPix2Pix (the noisy latent and the source's latent side by side)."""
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 32, 64),
        layers_per_block=1,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )


def save_tiny_editing_pipeline(pipeline: str, folder: str | Path, seed: int = 0) -> Path:
    """Save a tiny random checkpoint of the diffusers pipeline class ``pipeline`` (SD 1.x
    components; an 8-channel UNet for InstructPix2Pix; a PNDM scheduler, as SD 1.x ships)
    with ``save_pretrained``: a local folder the diffusers-pipeline editor loads. Its
    tokenizer is the toy world's (CLIP's BPE cut to ~650 ids, ids below the text
    encoder's 49,408), which loads in milliseconds where the full one takes seconds."""
    import diffusers
    from diffusers import PNDMScheduler
    from transformers import CLIPTokenizer

    from ..toy.vocab import write_toy_tokenizer

    torch.manual_seed(seed)
    folder = Path(folder)
    cls = getattr(diffusers, pipeline)
    unet = tiny_editing_unet(8 if "InstructPix2Pix" in pipeline else 4)
    config = dict(sd_ddim_scheduler().config)
    scheduler = PNDMScheduler.from_config(config, skip_prk_steps=True)
    tokenizer = CLIPTokenizer.from_pretrained(write_toy_tokenizer(folder / "tokenizer"))
    parts = dict(vae=tiny_vae(), text_encoder=tiny_text_encoder(), unet=unet)
    parts |= dict(tokenizer=tokenizer, scheduler=scheduler)
    parts |= dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    cls(**parts).save_pretrained(str(folder))
    return folder
