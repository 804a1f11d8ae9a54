"""Toy-world oracle metrics: read the edit's pixels and check them against captions.

The edited attributes are those the target caption states differently from the
source description; edit_success is the edit's agreement on those, preserved its
agreement with the source description on all the others.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from ..toy.oracle import CaptionFacts, agreement, parse_caption, read_image
from .inputs import CellInputs
from .registry import MetricName

ATTRIBUTES = ("background", "count", "color", "shape", "size", "texture")


def _uint8(image: torch.Tensor) -> np.ndarray:
    array = (image[0].float().clamp(0, 1) * 255).round().to(torch.uint8)
    return array.permute(1, 2, 0).cpu().numpy()


def edited_attributes(source: CaptionFacts, target: CaptionFacts) -> set[str]:
    """Attributes the target states and the source states differently."""
    changed = set()
    if target.background is not None and target.background != source.background:
        changed.add("background")
    if target.background is not None and target.texture != source.texture:
        changed.add("texture")
    if target.objects and len(target.objects) != len(source.objects):
        changed.add("count")
    for index, attr in enumerate(("size", "color", "shape")):
        wanted = Counter(o[index] for o in target.objects if o[index])
        had = Counter(o[index] for o in source.objects if o[index])
        if wanted and wanted != had:
            changed.add(attr)
    return changed


def _scores(x: CellInputs) -> tuple[float, float, int]:
    reading = read_image(_uint8(x.edit))
    source, target = parse_caption(x.source_text), parse_caption(x.target_caption)
    changed = edited_attributes(source, target)
    to_target = agreement(reading, target).as_dict()
    to_source = agreement(reading, source).as_dict()
    success = np.mean([to_target[a] for a in changed]) if changed else math.nan
    kept = [a for a in ATTRIBUTES if a not in changed]
    preserved = np.mean([to_source[a] for a in kept]) if kept and x.source_text else math.nan
    return float(success), float(preserved), reading.count


def oracle_edit_success(name: MetricName, x: CellInputs) -> float:
    return _scores(x)[0]


def oracle_preserved(name: MetricName, x: CellInputs) -> float:
    return _scores(x)[1]


def oracle_count(name: MetricName, x: CellInputs) -> float:
    return float(_scores(x)[2])


SCORERS = {
    "oracle_edit_success": oracle_edit_success,
    "oracle_preserved": oracle_preserved,
    "oracle_count": oracle_count,
}
