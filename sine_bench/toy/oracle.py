"""The toy world's oracle: what is in an image, from its pixels alone.

It must work on generated images, not only on renders, so it reads colours by
nearest palette entry, finds objects as connected components of non-background
pixels, and classifies each component's shape by matching its bounding-box-
normalised mask against rendered templates of every shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from .scenes import COLORS, SHAPES, SIZES, STRIPE_MIX, shape_mask

PALETTE = np.array(list(COLORS.values()), dtype=np.float32)
NAMES = list(COLORS)
TEMPLATE = 24  # side of the normalised shape templates


@dataclass(frozen=True)
class DetectedObject:
    shape: str
    color: str
    size: str
    x: float  # centroid, fraction of width
    y: float  # centroid, fraction of height
    area: float  # fraction of shorter side squared
    shape_score: float  # template IoU of the chosen shape


@dataclass(frozen=True)
class Reading:
    background: str
    texture: str
    objects: tuple[DetectedObject, ...]

    @property
    def count(self) -> int:
        return len(self.objects)


@dataclass(frozen=True)
class CaptionFacts:
    """What a toy caption asserts (parsed from its text)."""

    background: str | None
    texture: str
    objects: tuple[tuple[str | None, str | None, str | None], ...]  # (size, color, shape)


@dataclass
class Agreement:
    """Per-attribute agreement of a reading with a caption (1.0 = all right)."""

    background: float
    count: float
    color: float
    shape: float
    size: float
    texture: float
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return {
            k: getattr(self, k)
            for k in ("background", "count", "color", "shape", "size", "texture")
        }


def _nearest_palette(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest palette colour and the distance to it, per pixel."""
    d = np.linalg.norm(pixels[..., None, :] - PALETTE, axis=-1)
    return d.argmin(-1), d.min(-1)


@lru_cache(maxsize=1)
def _templates() -> np.ndarray:
    """(n_shapes, T, T) boolean masks of each shape filling its bounding box."""
    out = []
    for shape in SHAPES:
        ss = 8
        grid = (np.arange(200 * ss) + 0.5) / ss - 100
        yy, xx = np.meshgrid(grid, grid, indexing="ij")
        mask = shape_mask(shape, xx, yy, 80.0)
        rows, cols = np.where(mask)
        crop = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
        out.append(_resize_mask(crop, TEMPLATE) > 0.5)
    return np.stack(out)


def _resize_mask(mask: np.ndarray, side: int) -> np.ndarray:
    """Area-averaged (down) or bilinear (up) resize of a mask to side x side, in [0, 1]."""
    image = Image.fromarray(mask.astype(np.float32))
    down = mask.shape[0] > side and mask.shape[1] > side
    return np.asarray(image.resize((side, side), Image.BOX if down else Image.BILINEAR))


def classify_shape(component: np.ndarray) -> tuple[str, float]:
    """Best-matching shape by IoU of the bbox-normalised mask with the templates."""
    rows, cols = np.where(component)
    crop = component[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    norm = _resize_mask(crop, TEMPLATE) > 0.5
    templates = _templates()
    inter = (templates & norm).sum(axis=(1, 2))
    union = (templates | norm).sum(axis=(1, 2))
    iou = inter / np.maximum(union, 1)
    best = int(iou.argmax())
    return SHAPES[best], float(iou[best])


def read_image(image: np.ndarray, min_area: float = 0.004) -> Reading:
    """Read an (H, W, 3) uint8 (or float in [0, 255]) image.

    ``min_area`` drops specks smaller than that fraction of the shorter side squared.
    """
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.max() <= 1.0 + 1e-6 and pixels.dtype != np.uint8 and image.dtype != np.uint8:
        pixels = pixels * 255.0
    h, w = pixels.shape[:2]
    short = min(h, w)
    labels, _dist = _nearest_palette(pixels)
    counts = np.bincount(labels.ravel(), minlength=len(NAMES))
    bg = int(counts.argmax())
    base = PALETTE[bg]
    stripe = base + STRIPE_MIX * (255.0 - base)
    d_base = np.linalg.norm(pixels - base, axis=-1)
    d_stripe = np.linalg.norm(pixels - stripe, axis=-1)
    background_like = (d_base < 60) | (d_stripe < 45)
    stripe_pixels = (d_stripe < d_base) & (d_stripe < 45)
    texture = "striped" if stripe_pixels.mean() > 0.12 else "plain"

    # Strict cores first, then each core grown to the pixels at least half covered by
    # its colour (projection between background and object colour): antialiased edges
    # then count as they were drawn, which keeps small shapes' outlines true.
    core = ndimage.binary_opening(~background_like, structure=np.ones((2, 2)))
    comp, n = ndimage.label(core)
    objects = []
    for idx in range(1, n + 1):
        seed_mask = comp == idx
        if seed_mask.sum() / (short * short) < min_area / 2:
            continue
        sample = labels[seed_mask]
        sample = sample[sample != bg] if (sample != bg).any() else sample
        color_idx = int(np.bincount(sample, minlength=len(NAMES)).argmax())
        coverage = _coverage(pixels, PALETTE[color_idx], (base, stripe))
        region = ndimage.binary_dilation(seed_mask, iterations=2)
        mask = region & (coverage > 0.5)
        mask = ndimage.binary_fill_holes(mask | seed_mask)
        mask = _largest_component(mask)
        area = mask.sum() / (short * short)
        if area < min_area:
            continue
        shape, score = classify_shape(mask)
        ys, xs = np.nonzero(mask)
        extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / 2 / short
        size = min(SIZES, key=lambda k: abs(SIZES[k] * _extent_scale(shape) - extent))
        objects.append(
            DetectedObject(
                shape,
                NAMES[color_idx],
                size,
                float(xs.mean() / w),
                float(ys.mean() / h),
                float(area),
                score,
            )
        )
    objects.sort(key=lambda o: o.x)
    return Reading(NAMES[bg], texture, tuple(objects))


def _coverage(pixels: np.ndarray, target: np.ndarray, backgrounds) -> np.ndarray:
    """Per pixel, the fraction of ``target`` in a mix with whichever background explains it
    best (plain colour or stripe)."""
    best_cov, best_res = None, None
    for ref in backgrounds:
        direction = target - ref
        a = np.clip(((pixels - ref) @ direction) / max(float(direction @ direction), 1.0), 0, 1)
        residual = np.linalg.norm(pixels - (ref + a[..., None] * direction), axis=-1)
        if best_cov is None:
            best_cov, best_res = a, residual
        else:
            better = residual < best_res
            best_cov = np.where(better, a, best_cov)
            best_res = np.where(better, residual, best_res)
    return best_cov


def _largest_component(mask: np.ndarray) -> np.ndarray:
    comp, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = ndimage.sum(mask, comp, index=range(1, n + 1))
    return comp == (int(np.argmax(sizes)) + 1)


def _extent_scale(shape: str) -> float:
    """Half the bbox side of a shape relative to its half-extent parameter s."""
    return {"circle": 1.0, "square": 0.86, "triangle": 1.05, "diamond": 1.12, "cross": 1.0}[shape]


_OBJECT = re.compile(
    r"\b(?:a|an|one)\s+(?:sks\s+)?(?:(?P<size>small|large)\s+)?(?:(?P<color>"
    + "|".join(COLORS)
    + r")\s+)?(?P<shape>"
    + "|".join(SHAPES)
    + r")\b"
)
_BACKGROUND = re.compile(
    r"on an?\s+(?P<striped>striped\s+)?(?P<color>" + "|".join(COLORS) + r")\s+background"
)


def parse_caption(text: str) -> CaptionFacts:
    """Parse a toy caption (or edit prompt) into the attributes it asserts."""
    text = text.lower()
    bg = _BACKGROUND.search(text)
    before_bg = text[: bg.start()] if bg else text
    objects = tuple(
        (m.group("size"), m.group("color"), m.group("shape")) for m in _OBJECT.finditer(before_bg)
    )
    return CaptionFacts(
        background=bg.group("color") if bg else None,
        texture="striped" if bg and bg.group("striped") else "plain",
        objects=objects,
    )


def _multiset_match(wanted: list[str], got: list[str]) -> float:
    """Fraction of wanted values found in got (as multisets); 1.0 if nothing wanted."""
    if not wanted:
        return 1.0
    pool = list(got)
    hits = 0
    for value in wanted:
        if value in pool:
            pool.remove(value)
            hits += 1
    return hits / len(wanted)


def agreement(reading: Reading, caption: str | CaptionFacts) -> Agreement:
    """How far a reading agrees with each attribute a caption asserts.

    Colour/shape/size are multiset matches over the caption's objects; a caption
    that does not state an attribute scores 1.0 on it.
    """
    facts = parse_caption(caption) if isinstance(caption, str) else caption
    got = reading.objects
    colors = [c for _, c, _ in facts.objects if c]
    shapes = [s for _, _, s in facts.objects if s]
    sizes = [z for z, _, _ in facts.objects if z]
    return Agreement(
        background=1.0
        if facts.background is None
        else float(reading.background == facts.background),
        count=1.0 if not facts.objects else float(reading.count == len(facts.objects)),
        color=_multiset_match(colors, [o.color for o in got]),
        shape=_multiset_match(shapes, [o.shape for o in got]),
        size=_multiset_match(sizes, [o.size for o in got]),
        texture=1.0 if facts.background is None else float(reading.texture == facts.texture),
    )
