"""MagicBrush's metrics against the ground-truth target image: L1, L2, CLIP-I and DINO.

As MagicBrush's evaluator (OSU-NLP-Group/MagicBrush, ``evaluation/image_eval.py``)
defines them, on the 8-bit edit and the item's target for the prompt, both at the
scoring size (the evaluator resizes the edit to the target's size; a MagicBrush target
has its source's size, so the default ``scoring.size: source`` is the same):

- ``l1_target``: mean |edit - target| over pixels and channels, values in [0, 1]
  (torch's ``L1Loss`` of ``ToTensor`` images);
- ``l2_target``: mean (edit - target)^2 likewise (``MSELoss``: MagicBrush's "L2" is a
  mean square, with no root);
- ``clip_i_target[B]``: cos(E_img(edit), E_img(target)). Each image is centre-cropped
  to a square first, so the backbone's 224 x 224 resize equals CLIP's own
  ``Resize(224) + CenterCrop(224)`` up to the resampling filter;
- ``dino_target[B]``: cos of DINO's CLS features (token 0 after the last norm, what
  DINO's ``forward`` returns; MagicBrush uses ViT-S/16) of each image resized to shorter
  side 256 (bicubic, PIL), centre-cropped to 224 and ImageNet-normalised.

NaN when the item ships no target for the prompt (validation refuses such a protocol
before anything computes, ``runner.validate``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from .backbones import load_backbone
from .clip import _images
from .inputs import CellInputs
from .metric_name import MetricName
from .pixel import _quantise

DINO_RESIZE, DINO_CROP = 256, 224
MEAN = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
STD = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)


def _difference(x: CellInputs) -> torch.Tensor | None:
    if x.target is None:
        return None
    return _quantise(x.edit).double() - _quantise(x.target).double()


def l1_target(name: MetricName, x: CellInputs) -> float:
    """Mean absolute difference to the target, values in [0, 1]."""
    diff = _difference(x)
    return math.nan if diff is None else float(diff.abs().mean())


def l2_target(name: MetricName, x: CellInputs) -> float:
    """Mean squared difference to the target, values in [0, 1]."""
    diff = _difference(x)
    return math.nan if diff is None else float((diff**2).mean())


def centre_crop(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The centre ``height x width`` of (B, C, H, W), offsets rounded as torchvision's
    ``CenterCrop`` rounds them."""
    h, w = image.shape[-2:]
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return image[..., top : top + height, left : left + width]


def clip_i_target(name: MetricName, x: CellInputs) -> float:
    """cos(E_img(edit), E_img(target)), each centre-cropped to a square."""
    if x.target is None:
        return math.nan
    side = min(x.edit.shape[-2:])
    emb = _images(name, centre_crop(x.edit, side, side), centre_crop(x.target, side, side))
    return float(emb[0] @ emb[1])


def dino_input(image01: torch.Tensor) -> torch.Tensor:
    """(1, 3, 224, 224) DINO input of a (1, 3, H, W) [0, 1] image: the 8-bit image
    resized (PIL bicubic, shorter side 256, the longer truncated as torchvision does),
    centre-cropped to 224, ImageNet-normalised."""
    pixels = (_quantise(image01)[0].permute(1, 2, 0) * 255).round().byte().numpy()
    pil = Image.fromarray(pixels)
    w, h = pil.size
    side = DINO_RESIZE
    size = (side, int(side * h / w)) if w <= h else (int(side * w / h), side)
    resized = np.asarray(pil.resize(size, Image.BICUBIC), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(resized.copy()).permute(2, 0, 1)[None]
    return (centre_crop(tensor, DINO_CROP, DINO_CROP) - MEAN) / STD


def dino_target(name: MetricName, x: CellInputs) -> float:
    """cos of the DINO CLS features of the edit and the target."""
    if x.target is None:
        return math.nan
    backbone = load_backbone("dino", name.backbones()["dino"], name.text)
    features = backbone.cls(torch.cat([dino_input(x.edit), dino_input(x.target)])).double()
    a, b = features[0], features[1]
    return float(a @ b / (a.norm() * b.norm()).clamp(min=1e-12))
