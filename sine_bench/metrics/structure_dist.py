"""PIE-Bench's structure distance: how far the edit's layout moved from the source's.

MSE between the cosine self-similarity matrices (CLS token included) of the last DINO
block's keys of source and edit, as in Tumanyan et al.'s Splice loss that PnPInversion
evaluates with. Each image is resized so its shorter side is 224 (the longer one at
most 480; bilinear) and normalised with ImageNet's mean and std. Two profiles:

- ``structure_dist_pie``: the reference's input, 8-bit values **0-255** fed into the
  normalisation meant for [0, 1] (inputs ~255x too large), resized without
  antialiasing (torchvision's tensor default before 0.17, the reference's era);
- ``structure_dist_corrected``: [0, 1] values, antialiased resize.

Stored unscaled; PIE-Bench's tables print it x10^3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .backbones import load_backbone
from .inputs import CellInputs
from .metric_name import MetricName
from .pixel import _quantise

SHORT, MAX_LONG = 224, 480
MEAN = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
STD = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)


def resized_size(height: int, width: int) -> tuple[int, int]:
    """torchvision's ``Resize(224, max_size=480)`` size: shorter side 224, the longer
    scaled (truncated) and, if over 480, the longer set to 480 and the shorter scaled."""
    short, long = sorted((height, width))
    new_short, new_long = SHORT, int(SHORT * long / short)
    if new_long > MAX_LONG:
        new_short, new_long = int(MAX_LONG * new_short / new_long), MAX_LONG
    return (new_short, new_long) if height <= width else (new_long, new_short)


def dino_input(image01: torch.Tensor, profile: str) -> torch.Tensor:
    """The normalised network input of a (B, 3, H, W) [0, 1] image under a profile."""
    x = _quantise(image01).float()  # the 8-bit values a PNG holds
    if profile == "pie":
        x = x * 255
    size = resized_size(*x.shape[-2:])
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(
            x, size=size, mode="bilinear", align_corners=False, antialias=profile != "pie"
        )
    return (x - MEAN) / STD


def self_similarity(keys: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(tokens, tokens) cosine similarities of (tokens, dim) keys (norm product >= eps)."""
    norms = keys.norm(dim=-1, keepdim=True)
    return (keys @ keys.T) / (norms @ norms.T).clamp(min=eps)


def distance(backbone, source01: torch.Tensor, edit01: torch.Tensor, profile: str) -> float:
    """The structure distance of two (1, 3, H, W) [0, 1] images."""
    x = torch.cat([dino_input(source01, profile), dino_input(edit01, profile)])
    keys = backbone.keys(x).double()
    a, b = self_similarity(keys[0]), self_similarity(keys[1])
    return float(((a - b) ** 2).mean())


def structure_dist(name: MetricName, x: CellInputs) -> float:
    """The scorer of ``structure_dist_pie[B]`` and ``structure_dist_corrected[B]``."""
    backbone = load_backbone("dino", name.backbones()["dino"], name.text)
    profile = name.family.rsplit("_", 1)[1]
    return distance(backbone, x.source, x.edit, profile)
