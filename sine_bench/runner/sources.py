"""Source images at plan time: decoded once (sizes, conversion notes, refusals); what
preparing a method's input from them does is ``methods.preparation``."""

from __future__ import annotations

from ..images import check_min_side, frames_note, inspect_image, mask_notes, size_notes
from ..metrics.registry import MetricName, min_side
from ..protocol.dataset import ResolvedItem
from ..protocol.fields import hxw


def check_source_images(
    items: dict[str, ResolvedItem], metrics: list[MetricName], scoring_size: str
) -> tuple[dict[str, tuple[int, int]], dict[str, list[str]], dict[str, list[str]]]:
    """Decode every source image and mask once: their (oriented) sizes, the conversion
    notes (pixels changed on load: these enter keys) and the input notes (how an
    input is read that leaves its pixels as they are: extra frames, a mask's or target's
    size, a mask's grey levels or full cover; these are shown and recorded, never keyed); refuses
    unreadable, undecodably large, and (for the metrics) too small ones."""
    need = max((min_side(m), m.text) for m in metrics) if metrics else (1, "")
    sizes, notes, remarks = {}, {}, {}
    for item_id, item in items.items():
        info = inspect_image(item.image_path)
        sizes[item_id] = (info.height, info.width)
        notes[item_id] = list(info.notes)
        remarks[item_id] = frames_note(item.image_path)
        for mask in sorted({item.mask_path, *item.prompt_masks.values()} - {None}):
            inspect_image(mask, "L")
            remarks[item_id] += mask_notes(mask, sizes[item_id])
        for target in sorted(set(item.prompt_targets.values())):  # ground truth, if shipped
            found = inspect_image(target)
            hw = (found.height, found.width)
            remarks[item_id] += size_notes("target", target, hw, sizes[item_id])
        scored = sizes[item_id] if scoring_size == "source" else hxw(scoring_size)
        where = item.image_path if scoring_size == "source" else "scoring.size"
        check_min_side(where, scored, need[0], f"metric {need[1]!r}")
    nonempty = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
    return sizes, nonempty(notes), nonempty(remarks)
