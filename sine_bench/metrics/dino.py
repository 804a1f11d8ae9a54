"""DINO ViT backbones (through timm): the last block's attention keys, for the
self-similarity structure distance (metrics/structure_dist.py), and the CLS feature,
for MagicBrush's DINO similarity (metrics/target.py).

The keys are read where DINO's own code exposes them: the output of the last block's
fused ``qkv`` projection, whose middle third is every head's key concatenated head by
head (timm's ViT keeps DINO's layout). Weights load from the local hub cache only
(``sine-bench fetch-weights``); a missing file is one clear error.
"""

from __future__ import annotations

import dataclasses

import torch

from .backbones import BACKBONES

# name -> timm architecture (the weights' hub repo is the backbone record's)
ARCHS = {"dino-vitb8": "vit_base_patch8_224", "dino-vits16": "vit_small_patch16_224"}
# a metric that reads each backbone, for the fetch command a missing file names
FETCH_METRIC = {"dino-vitb8": "structure_dist_pie", "dino-vits16": "dino_target"}


class DinoKeys:
    """``keys(x)``: (B, tokens, dim) keys of the last block for normalised images
    (B, 3, H, W); token 0 is CLS. At 224 x 224 (a square source) the positional
    embedding is DINO's own; other sizes interpolate it as timm does (DINO's code
    interpolates slightly differently), so only square inputs reproduce it exactly.
    ``cls(x)``: (B, dim) CLS token after the final norm, what DINO's own ``forward``
    returns (timm's ViT applies that norm in ``forward_features``)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model.eval()

    @torch.no_grad()
    def keys(self, x: torch.Tensor) -> torch.Tensor:
        # DINO's stride-p patch convolution drops the last H % p rows and W % p columns;
        # timm refuses such sizes, so they are cropped here (the same patches result)
        p = self.model.patch_embed.patch_size
        x = x[..., : x.shape[-2] // p[0] * p[0], : x.shape[-1] // p[1] * p[1]]
        captured: list[torch.Tensor] = []
        qkv = self.model.blocks[-1].attn.qkv
        handle = qkv.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            self.model.forward_features(x.float())
        finally:
            handle.remove()
        dim = captured[0].shape[-1] // 3
        return captured[0][..., dim : 2 * dim]

    @torch.no_grad()
    def cls(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x.float())[:, 0]


def build_dino(arch: str = "vit_base_patch8_224", **overrides) -> torch.nn.Module:
    """The architecture with random weights (tests; ``load_dino`` fills real ones)."""
    import timm

    return timm.create_model(
        arch, pretrained=False, num_classes=0, dynamic_img_size=True, **overrides
    )


def load_dino(name: str = "dino-vitb8") -> DinoKeys:
    """The pretrained backbone from the local cache; missing weights name the fetch."""
    import timm

    from ..weights import MissingWeightsError, fetch_command

    (weight,) = BACKBONES["dino"].get(name).weights
    checkpoint = weight.cached_path()
    if checkpoint is None:
        weight = dataclasses.replace(weight, needed_by=f"dino backbone {name}")
        raise MissingWeightsError(
            [weight], fetch_command(metrics=(f"{FETCH_METRIC[name]}[{name}]",))
        )
    model = timm.create_model(
        ARCHS[name],
        pretrained=True,
        num_classes=0,
        dynamic_img_size=True,
        pretrained_cfg_overlay={"file": str(checkpoint)},
    )
    return DinoKeys(model)
