"""LPIPS fidelity: perceptual distance between source and edit at the scoring size.

The backbone reports its own name ("lpips[alex]" for the standard weights,
"st_lpips[alex]" for the shift-tolerant variant); that name labels the column.
"""

from __future__ import annotations

import torch

from .backbones import load_backbone
from .inputs import CellInputs
from .metric_name import MetricName
from .names import MetricError, split_label


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
    """The column name, from the backbone that really ran (a substitute is never mislabelled).

    ``lpips[alex]`` becomes ``st_lpips[alex]`` when the shift-tolerant weights stood in;
    metrics built on LPIPS carry the same tag: ``memorization[st_lpips-alex]``,
    ``copy_rate[st_lpips-alex+toy]``; clip-first scores always name the LPIPS family:
    ``edit_score[toy+st_lpips-alex]``, ``edit_score[ViT-B-32/openai+lpips-alex]``.
    """
    resolved = getattr(backend(name), "name", None)
    if not resolved:
        return name.text
    if name.family in ("lpips", "st_lpips"):
        return resolved
    family, net = split_label(resolved)
    if name.info.backbones == ("clip", "lpips"):  # edit_score[toy+st_lpips-alex]: both named
        return f"{name.family}[{name.backbones()['clip']}+{family}-{net}]"
    tag = net if family == "lpips" else f"{family}-{net}"
    requested = name.backbones()["lpips"]
    rest = name.backbone[len(requested) :]  # e.g. "+toy" for lpips+clip metrics
    return f"{name.family}[{tag}{rest}]"
