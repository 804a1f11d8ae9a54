"""Source images at plan time: decoded once (sizes, conversion notes, refusals); what
preparing a method's input from them does is ``methods.preparation``."""

from __future__ import annotations

from ..images import check_min_side, inspect_image
from ..metrics.registry import MetricName, min_side
from ..protocol import ResolvedItem


def check_source_images(
    items: dict[str, ResolvedItem], metrics: list[MetricName], scoring_size: str
) -> tuple[dict[str, tuple[int, int]], dict[str, list[str]]]:
    """Decode every source image and mask once: their (oriented) sizes and conversion
    notes; refuses unreadable, undecodably large, and (for the metrics) too small ones."""
    need = max((min_side(m), m.text) for m in metrics) if metrics else (1, "")
    sizes, notes = {}, {}
    for item_id, item in items.items():
        info = inspect_image(item.image_path)
        sizes[item_id] = (info.height, info.width)
        notes[item_id] = list(info.notes)
        for mask in {item.mask_path, *item.prompt_masks.values()} - {None}:
            inspect_image(mask, "L")
        scored = sizes[item_id] if scoring_size == "source" else _hxw(scoring_size)
        where = item.image_path if scoring_size == "source" else "scoring.size"
        check_min_side(where, scored, need[0], f"metric {need[1]!r}")
    return sizes, {k: v for k, v in notes.items() if v}


def _hxw(label: str) -> tuple[int, int]:
    h, w = label.split("x")
    return int(h), int(w)
