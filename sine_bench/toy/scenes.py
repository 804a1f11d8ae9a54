"""The toy world: procedural scenes of simple shapes on a background, with captions.

A scene is a background colour (optionally striped) and 1-3 objects, each a shape,
colour, size class and centre. Geometry is in normalised units: centres as
fractions of the canvas width and height, sizes as fractions of the canvas's
shorter side, so one scene renders at any H x W without distorting its shapes.
Rendering is antialiased by supersampling. Everything is deterministic from a seed.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

import numpy as np

# Well-separated RGB colours (the oracle classifies pixels to the nearest one).
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "white": (240, 240, 240),
    "black": (25, 25, 25),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
SIZES: dict[str, float] = {"small": 0.13, "large": 0.21}  # half-extent / shorter side
TEXTURES: tuple[str, ...] = ("plain", "striped")
STRIPE_MIX = 0.35  # stripes are the background colour blended this far towards white


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    size: str
    x: float  # centre, fraction of width
    y: float  # centre, fraction of height

    def phrase(self) -> str:
        return f"a {self.size} {self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[SceneObject, ...]
    texture: str = "plain"
    aspect: float = 1.0  # width / height the scene was laid out for
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def caption(self) -> str:
        """'a large red circle and a small blue square on a yellow background'."""
        return caption_for(self.objects, self.background, self.texture)

    def class_words(self) -> list[str]:
        return [o.shape for o in self.objects]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Scene:
        objects = tuple(SceneObject(**o) for o in data["objects"])
        return cls(
            data["background"], objects, data.get("texture", "plain"), data.get("aspect", 1.0)
        )


def caption_for(objects, background: str, texture: str = "plain") -> str:
    ordered = sorted(objects, key=lambda o: o.x)
    phrases = [o.phrase() for o in ordered]
    if len(phrases) == 1:
        things = phrases[0]
    else:
        things = ", ".join(phrases[:-1]) + " and " + phrases[-1]
    bg = f"striped {background}" if texture == "striped" else background
    return f"{things} on a {bg} background"


def _fits(candidate: SceneObject, placed: list[SceneObject], aspect: float) -> bool:
    """No overlap (with a gap) between bounding circles, in shorter-side units."""
    w_units, h_units = max(aspect, 1.0), max(1.0 / aspect, 1.0)
    for other in placed:
        dx = (candidate.x - other.x) * w_units
        dy = (candidate.y - other.y) * h_units
        reach = 1.25 * (SIZES[candidate.size] + SIZES[other.size]) + 0.04
        if dx * dx + dy * dy < reach * reach:
            return False
    return True


def random_scene(
    seed: int,
    *,
    aspect: float = 1.0,
    n_objects: int | None = None,
    striped_prob: float = 0.15,
    max_objects: int = 3,
) -> Scene:
    """A scene drawn deterministically from ``seed`` for a canvas of width/height ``aspect``."""
    rng = random.Random(seed)
    background = rng.choice(list(COLORS))
    texture = "striped" if rng.random() < striped_prob else "plain"
    count = n_objects if n_objects is not None else rng.choice(range(1, max_objects + 1))
    w_units, h_units = max(aspect, 1.0), max(1.0 / aspect, 1.0)
    for _attempt in range(200):
        placed: list[SceneObject] = []
        for _ in range(count):
            for _try in range(100):
                size = rng.choice(list(SIZES))
                r = 1.15 * SIZES[size]
                obj = SceneObject(
                    shape=rng.choice(SHAPES),
                    color=rng.choice([c for c in COLORS if c != background]),
                    size=size,
                    x=rng.uniform(r / w_units + 0.02, 1 - r / w_units - 0.02),
                    y=rng.uniform(r / h_units + 0.02, 1 - r / h_units - 0.02),
                )
                if _fits(obj, placed, aspect):
                    placed.append(obj)
                    break
        if len(placed) == count:
            return Scene(background, tuple(placed), texture, aspect)
    raise RuntimeError(f"could not place {count} objects for seed {seed}")


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, s: float) -> np.ndarray:
    """Inside-test for a shape centred at 0 with half-extent s (dy grows downwards)."""
    if shape == "circle":
        return dx * dx + dy * dy <= s * s
    if shape == "square":
        return (np.abs(dx) <= 0.86 * s) & (np.abs(dy) <= 0.86 * s)
    if shape == "triangle":  # apex up, base down
        top, bottom = -s, 0.85 * s
        frac = (dy - top) / (bottom - top)
        return (dy >= top) & (dy <= bottom) & (np.abs(dx) <= frac * 1.05 * s)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= 1.12 * s
    if shape == "cross":
        arm = 0.36 * s
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= s)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= s))
    raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


def render(scene: Scene, height: int = 64, width: int = 64, supersample: int = 4) -> np.ndarray:
    """The scene as a (height, width, 3) uint8 RGB array, antialiased."""
    ss = supersample
    ys = (np.arange(height * ss) + 0.5) / ss
    xs = (np.arange(width * ss) + 0.5) / ss
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    base = np.array(COLORS[scene.background], dtype=np.float32)
    canvas = np.broadcast_to(base, (height * ss, width * ss, 3)).copy()
    if scene.texture == "striped":
        stripe = base + STRIPE_MIX * (255.0 - base)
        period = max(4.0, min(height, width) / 8)
        on = ((xx + yy) % period) < period / 3
        canvas[on] = stripe
    short = min(height, width)
    for obj in scene.objects:
        s = SIZES[obj.size] * short
        inside = shape_mask(obj.shape, xx - obj.x * width, yy - obj.y * height, s)
        canvas[inside] = np.array(COLORS[obj.color], dtype=np.float32)
    pooled = canvas.reshape(height, ss, width, ss, 3).mean(axis=(1, 3))
    return np.clip(np.rint(pooled), 0, 255).astype(np.uint8)


def scene_with(scene: Scene, **changes) -> Scene:
    """A copy with the background/texture changed (objects keep their layout)."""
    data = {
        "background": scene.background,
        "objects": scene.objects,
        "texture": scene.texture,
        "aspect": scene.aspect,
    }
    data.update(changes)
    return Scene(**data)


def changed_region(
    source: Scene, target: Scene, height: int = 64, width: int = 64, grow: int = 2
) -> np.ndarray:
    """(height, width) bool mask of the pixels an edit from ``source`` to ``target`` may
    change: where their renders differ, grown by ``grow`` pixels (antialiased edges)."""
    from scipy import ndimage

    a = render(source, height, width).astype(np.int16)
    b = render(target, height, width).astype(np.int16)
    differ = np.abs(a - b).max(axis=-1) > 0
    return ndimage.binary_dilation(differ, iterations=grow) if grow else differ
