"""``KeywordRecolour``: a black-box editor with no diffusion model and no sine-bench
import, to show the plain-class contract (``edit`` + ``knobs`` + ``version``).

The classical baseline a learned editor should beat: it diffs the two prompts word by
word, and where one colour name replaces another ("... on a red background" -> "... on
a green background") it shifts every pixel near the source colour towards the target
colour, keeping the pixel's offset from the source colour (shading and stripes stay).
An edit that changes no colour word (a shape, an object) returns the source unchanged:
it cannot make it, and the scores will say so.

Colour names are the CSS basic colours (plus orange), a public standard: the editor
knows nothing of any dataset's palette. The pixels it moves are those within
``tolerance`` (RGB distance, 0-1 scale) of the image's own colour nearest the named one
(of the colours covering at least 2% of the image).
"""

from __future__ import annotations

import difflib

import numpy as np
from PIL import Image

DOMINANT = 0.02  # share of the pixels a colour needs to count as one of the image's
# CSS basic colour keywords (CSS Level 1 plus orange), 0-255 sRGB
NAMED = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "purple": (128, 0, 128),
    "orange": (255, 165, 0),
    "pink": (255, 192, 203),
    "brown": (165, 42, 42),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
}


def colour_swaps(source_prompt: str, target_prompt: str) -> list[tuple[str, str]]:
    """(source colour, target colour) for each colour word the target puts in the place
    of another, in prompt order."""
    a, b = source_prompt.lower().split(), target_prompt.lower().split()
    swaps = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b).get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            for old, new in zip(a[i1:i2], b[j1:j2], strict=True):
                if old in NAMED and new in NAMED and old != new:
                    swaps.append((old, new))
    return swaps


def image_colour(pixels: np.ndarray, named: tuple[int, int, int]) -> np.ndarray:
    """The image's own colour for a named one: of the image's dominant colours (bins of
    1/16 per channel holding at least ``DOMINANT`` of the pixels), the nearest to the
    named colour, as the median of its pixels."""
    flat = pixels.reshape(-1, 3)
    bins = np.minimum((flat * 16).astype(np.int64), 15) @ np.array([256, 16, 1])
    counts = np.bincount(bins, minlength=4096)
    dominant = np.flatnonzero(counts >= DOMINANT * len(bins))
    medians = np.stack([np.median(flat[bins == b], axis=0) for b in dominant])
    target = np.float32(named) / 255.0
    return medians[np.argmin(((medians - target) ** 2).sum(-1))]


class KeywordRecolour:
    """Recolour the pixels of a colour the prompt swaps for another; nothing else."""

    version = "1"
    knobs = {"tolerance": 0.25, "strength": 1.0}

    def edit(
        self,
        source: Image.Image,
        source_prompt: str,
        target_prompt: str,
        seed: int,
        tolerance: float = 0.25,
        strength: float = 1.0,
    ) -> Image.Image:
        """The source with each swapped colour moved ``strength`` of the way to the new
        one (deterministic: ``seed`` is unused). Same size and mode as asked: RGB."""
        pixels = np.asarray(source.convert("RGB"), dtype=np.float32) / 255.0
        out = pixels.copy()
        for old, new in colour_swaps(source_prompt, target_prompt):
            here = image_colour(pixels, NAMED[old])
            near = np.linalg.norm(pixels - here, axis=-1) <= tolerance
            shift = np.float32(NAMED[new]) / 255.0 - here
            out[near] = pixels[near] + strength * shift
        return Image.fromarray((np.clip(out, 0, 1) * 255).round().astype(np.uint8), "RGB")
