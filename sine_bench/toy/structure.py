"""Where did the source's objects go? The toy oracle's structure reading.

An edit keeps the structure of its source when every source object the edit does not
remove is still there: at about the same place, and still the same object (its size
class and colour as before, or as the target caption asks). Source objects are read
from the source image's pixels, not from its caption, and matched one to one to the
edit's objects by centroid distance alone (Hungarian assignment): colour and shape are
ignored in the matching, because the edit may be asked to change them.

Which target-caption object each source object should become is decided by attributes:
the caption's objects are assigned to the source's by how many stated attributes
disagree (ties by left-to-right order, the order toy captions list objects in). With
fewer objects in the caption, the unassigned source objects are the removed ones.

Distances are in units of the canvas's shorter side (a move of 0.1 is 6.4 px on a
64 x 64 or a 64 x 96 canvas), so non-square canvases are measured isotropically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .oracle import CaptionFacts, DetectedObject, Reading

TOLERANCE = 0.1  # a source object is in place if its match is within this (shorter side)
UNMATCHED = 1.0  # the offset of a source object with no edit object left to match
Attributes = tuple[str, str, str]  # (size, colour, shape)


@dataclass(frozen=True)
class ObjectMatch:
    """One source object the edit should keep, and what became of it."""

    source: DetectedObject
    wanted: Attributes  # what the target caption asks this object to be
    edit: DetectedObject | None  # None: the edit has no object left for it
    offset: float  # shorter-side units, capped at UNMATCHED
    kept: bool  # in place, and size and colour as before or as asked
    as_asked: bool  # in place with exactly the size, colour and shape asked for


@dataclass(frozen=True)
class Structure:
    matches: tuple[ObjectMatch, ...]
    removed: tuple[DetectedObject, ...]  # source objects the target caption drops
    extra: int  # edit objects that no kept source object claims

    @property
    def offset(self) -> float:
        """Mean offset of the source objects the edit should keep (NaN if none)."""
        return float(np.mean([m.offset for m in self.matches])) if self.matches else math.nan

    @property
    def kept_fraction(self) -> float:
        """Fraction of those objects kept (NaN if none)."""
        return float(np.mean([m.kept for m in self.matches])) if self.matches else math.nan

    @property
    def all_as_asked(self) -> bool:
        return all(m.as_asked for m in self.matches)


def attributes(obj: DetectedObject) -> Attributes:
    return obj.size, obj.color, obj.shape


def distance(a: DetectedObject, b: DetectedObject, height: int, width: int) -> float:
    """Centroid distance in units of the shorter side, capped at UNMATCHED."""
    short = min(height, width)
    d = math.hypot((a.x - b.x) * width / short, (a.y - b.y) * height / short)
    return min(d, UNMATCHED)


def wanted_attributes(source: Reading, target: CaptionFacts) -> list[Attributes | None]:
    """Per source object, what the target asks it to be; None where the target drops it.

    A caption that lists no objects asks every object to stay as it is; attributes a
    caption object leaves unstated stay as the source's.
    """
    objects, stated = source.objects, target.objects
    if not stated:
        return [attributes(o) for o in objects]
    if not objects:
        return []
    cost = np.array(
        [
            [
                sum(w is not None and w != g for w, g in zip(want, attributes(o), strict=True))
                + 1e-3 * abs(i - j)  # ties: left-to-right order (captions list objects so)
                for j, want in enumerate(stated)
            ]
            for i, o in enumerate(objects)
        ]
    )
    rows, cols = linear_sum_assignment(cost)
    out: list[Attributes | None] = [None] * len(objects)
    for i, j in zip(rows, cols, strict=True):
        out[i] = tuple(
            w if w is not None else g
            for w, g in zip(stated[j], attributes(objects[i]), strict=True)
        )
    return out


def match_structure(
    source: Reading,
    edit: Reading,
    target: CaptionFacts,
    height: int,
    width: int,
    tolerance: float = TOLERANCE,
) -> Structure:
    """Match the source objects the target keeps to the edit's objects, one to one.

    ``height``/``width``: the canvas both readings come from (the scoring size).
    """
    wanted = wanted_attributes(source, target)
    keep = [(o, w) for o, w in zip(source.objects, wanted, strict=True) if w is not None]
    removed = tuple(o for o, w in zip(source.objects, wanted, strict=True) if w is None)
    found = list(edit.objects)
    partner: dict[int, int] = {}
    if keep and found:
        cost = np.array([[distance(s, e, height, width) for e in found] for s, _ in keep])
        rows, cols = linear_sum_assignment(cost)
        partner = {int(r): int(c) for r, c in zip(rows, cols, strict=True)}
    matches = []
    for i, (obj, want) in enumerate(keep):
        other = found[partner[i]] if i in partner else None
        offset = UNMATCHED if other is None else distance(obj, other, height, width)
        in_place = other is not None and offset <= tolerance
        kept = (
            in_place and other.size in (obj.size, want[0]) and other.color in (obj.color, want[1])
        )
        as_asked = in_place and attributes(other) == want
        matches.append(ObjectMatch(obj, want, other, offset, kept, as_asked))
    return Structure(tuple(matches), removed, len(found) - len(partner))
