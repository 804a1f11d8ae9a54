"""Source images at plan time: decoded once (sizes, conversion notes, refusals), and
what preparing a method's input from them does beyond the identity.

A preparation that changes pixels (a conversion on load, an antialiased downscale)
enters the keys of exactly the jobs it changes; one that changes nothing leaves their
keys as they always were, so stores of bit-identical results stay valid.
"""

from __future__ import annotations

from ..images import check_min_side, frames_note, inspect_image, mask_notes
from ..metrics.registry import MetricName, min_side
from ..protocol.dataset import ResolvedItem
from ..protocol.fields import hxw

# Version of how a method's input is made from the source file. 2: every downscale
# antialiased (sources, patch crops) and files normalised on load (EXIF orientation,
# 16-bit, ICC/CMYK, alpha on white).
INPUT_PREPARATION = "2"


def check_source_images(
    items: dict[str, ResolvedItem], metrics: list[MetricName], scoring_size: str
) -> tuple[dict[str, tuple[int, int]], dict[str, list[str]], dict[str, list[str]]]:
    """Decode every source image and mask once: their (oriented) sizes, the conversion
    notes (pixels changed on load: these enter keys) and the input notes (how an
    input is read that leaves its pixels as they are: extra frames, a mask's size, grey
    levels or full cover; these are shown and recorded, never keyed); refuses
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
        scored = sizes[item_id] if scoring_size == "source" else hxw(scoring_size)
        where = item.image_path if scoring_size == "source" else "scoring.size"
        check_min_side(where, scored, need[0], f"metric {need[1]!r}")
    nonempty = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
    return sizes, nonempty(notes), nonempty(remarks)


def input_preparation(
    source_hw: tuple[int, int], native: int, factor: int, settings: dict, notes: list[str]
) -> dict:
    """What the preparation does to SINE's fine-tune input beyond the identity ({} if
    nothing): a conversion on load and/or a downscale (of the source to the training
    size, of the source to the patch canvas, or of patch crops larger than the training
    size)."""
    patches = settings.get("patches")
    if patches:
        canvas = patches["grid"] * factor
        shrinks = max(source_hw) > canvas or canvas > native
    else:
        shrinks = max(source_hw) > native
    return _preparation(notes, shrinks)


def resize_preparation(
    source_hw: tuple[int, int], target_hw: tuple[int, int], notes: list[str]
) -> dict:
    """The same for an input a method resizes to ``target_hw`` (the source latent of
    sdedit, ddim-inversion and imagic's training)."""
    shrinks = source_hw[0] > target_hw[0] or source_hw[1] > target_hw[1]
    return _preparation(notes, shrinks)


def _preparation(notes: list[str], shrinks: bool) -> dict:
    changes: dict = {}
    if notes:
        changes["decoded"] = list(notes)
    if shrinks:
        changes["downscale"] = "antialiased"
    return {"version": INPUT_PREPARATION, **changes} if changes else {}
