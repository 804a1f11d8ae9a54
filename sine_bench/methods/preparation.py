"""What preparing a method's input from the source file does beyond the identity.

A preparation that changes pixels (a conversion on load, an antialiased downscale)
enters the keys of exactly the jobs it changes; one that changes nothing adds nothing
to their keys, so stores of bit-identical results stay valid
(tests/runner/test_keys.py, tests/runner/test_key_pins.py).
"""

from __future__ import annotations

# Version of how a method's input is made from the source file. 2: every downscale
# antialiased (sources, patch crops) and files normalised on load (EXIF orientation,
# 16-bit, ICC/CMYK, alpha on white).
INPUT_PREPARATION = "2"


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
