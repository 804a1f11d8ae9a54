"""LPIPS fidelity: perceptual distance between source and edit at the scoring size.

The backbone reports its own name ("lpips[alex]" for the standard weights,
"st_lpips[alex]" for the shift-tolerant variant); that name labels the column.
"""

from __future__ import annotations

import torch

from .inputs import CellInputs
from .registry import MetricError, MetricName, load_backbone


def backend(name: MetricName):
    net = load_backbone("lpips", name.backbones()["lpips"], name.text)
    label = getattr(net, "name", None)
    if name.family == "st_lpips" and label and not label.startswith("st_lpips"):
        raise MetricError(f"metric {name.text!r}: the LPIPS backbone resolved to {label}")
    return net


def distance(name: MetricName, a: torch.Tensor, b: torch.Tensor) -> float:
    """LPIPS(a, b) for images in [0, 1] (the backbone maps them to [-1, 1])."""
    return float(backend(name)(a.float(), b.float()).reshape(-1)[0])


def lpips(name: MetricName, x: CellInputs) -> float:
    return distance(name, x.source, x.edit)


def label(name: MetricName) -> str:
    """The column name: the backbone's own name (so a substitute is never mislabelled)."""
    if name.family in ("lpips", "st_lpips"):
        return getattr(backend(name), "name", None) or name.text
    return name.text


SCORERS = {"lpips": lpips, "st_lpips": lpips}
