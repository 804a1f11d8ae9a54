"""Toy-world oracle metrics: read the edit's pixels and check them against the captions
and against the source image.

The edited attributes are those the target caption states differently from the source
description; edit_success is the edit's agreement on those, preserved its agreement
with the source description on all the others. Structure compares the edit with the
source *image*: where each source object went (``sine_bench.toy.structure``). Faithful
is the joint outcome a user wants: the edit changed what was asked and kept the rest.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from ..toy.oracle import CaptionFacts, agreement, parse_caption, read_image
from ..toy.structure import Structure, match_structure
from .inputs import CellInputs
from .metric_name import MetricName

ATTRIBUTES = ("background", "count", "color", "shape", "size", "texture")
FULL = 1.0 - 1e-9  # a score counts as all right above this (float sums of 0/1 agreements)


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


@dataclass(frozen=True)
class Verdict:
    """Everything the oracle says about one cell."""

    edit_success: float  # NaN if nothing is edited
    preserved: float  # NaN without a source description or with nothing kept
    count: int
    structure: Structure
    expected_count: int  # objects the target caption lists (the source's if it lists none)

    @property
    def faithful(self) -> float:
        """1 if the edited attributes are right, the stated others kept, every source object
        the edit does not remove in place and exactly as the target asks, and no object
        beyond the target's count."""
        ok = (
            (math.isnan(self.edit_success) or self.edit_success >= FULL)
            and (math.isnan(self.preserved) or self.preserved >= FULL)
            and self.structure.all_as_asked
            and self.count <= self.expected_count
        )
        return float(ok)


def verdict(x: CellInputs) -> Verdict:
    """The oracle's reading of a cell, computed once and shared by its metrics."""
    if "oracle" in x.memo:
        return x.memo["oracle"]
    edit = read_image(_uint8(x.edit))
    source_reading = read_image(_uint8(x.source))
    target, source = parse_caption(x.target_caption), parse_caption(x.source_text)
    changed = edited_attributes(source, target)
    to_target = agreement(edit, target).as_dict()
    to_source = agreement(edit, source).as_dict()
    success = np.mean([to_target[a] for a in changed]) if changed else math.nan
    kept = [a for a in ATTRIBUTES if a not in changed]
    preserved = np.mean([to_source[a] for a in kept]) if kept and x.source_text else math.nan
    height, width = x.edit.shape[-2:]
    structure = match_structure(source_reading, edit, target, height, width)
    expected = len(target.objects) if target.objects else source_reading.count
    result = Verdict(float(success), float(preserved), edit.count, structure, expected)
    x.memo["oracle"] = result
    return result


def oracle_edit_success(name: MetricName, x: CellInputs) -> float:
    return verdict(x).edit_success


def oracle_preserved(name: MetricName, x: CellInputs) -> float:
    return verdict(x).preserved


def oracle_count(name: MetricName, x: CellInputs) -> float:
    return float(verdict(x).count)


def oracle_offset(name: MetricName, x: CellInputs) -> float:
    return verdict(x).structure.offset


def oracle_structure(name: MetricName, x: CellInputs) -> float:
    return verdict(x).structure.kept_fraction


def oracle_faithful(name: MetricName, x: CellInputs) -> float:
    return verdict(x).faithful
