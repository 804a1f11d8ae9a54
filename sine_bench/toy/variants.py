"""One-attribute changes and small jitters of toy scenes.

The evaluators are judged (and the toy CLIP is trained) on exactly these pairs: a
scene and a copy differing in one attribute must score apart, a scene and a copy
moved by a pixel or two must not. Keeping both here makes training negatives and
evaluation negatives the same family by construction.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from .scenes import COLORS, SHAPES, SIZES, Scene, scene_with

KINDS: tuple[str, ...] = ("color", "shape", "size", "background", "texture")


def change_one_attribute(scene: Scene, rng: random.Random, kind: str | None = None) -> Scene:
    """A copy of ``scene`` with exactly one attribute changed (``kind`` or a random one).

    Colours never collide with the background (an object must stay visible) and a new
    background avoids every object colour for the same reason.
    """
    kind = kind or rng.choice(KINDS)
    objects = list(scene.objects)
    if kind in ("color", "shape", "size"):
        i = rng.randrange(len(objects))
        obj = objects[i]
        if kind == "color":
            pool = [c for c in COLORS if c not in (obj.color, scene.background)]
            objects[i] = replace(obj, color=rng.choice(pool))
        elif kind == "shape":
            objects[i] = replace(obj, shape=rng.choice([s for s in SHAPES if s != obj.shape]))
        else:
            objects[i] = replace(obj, size=rng.choice([s for s in SIZES if s != obj.size]))
        return scene_with(scene, objects=tuple(objects))
    if kind == "background":
        used = {o.color for o in objects} | {scene.background}
        return scene_with(scene, background=rng.choice([c for c in COLORS if c not in used]))
    if kind == "texture":
        return scene_with(scene, texture="plain" if scene.texture == "striped" else "striped")
    raise ValueError(f"unknown attribute kind {kind!r}; known: {', '.join(KINDS)}")


def jitter(
    scene: Scene,
    rng: random.Random,
    height: int,
    width: int,
    min_px: float = 1.0,
    max_px: float = 2.0,
) -> Scene:
    """The same scene with every object moved ``min_px``..``max_px`` pixels (one direction)."""
    dist = rng.uniform(min_px, max_px)
    angle = rng.uniform(0, 2 * math.pi)
    dx, dy = dist * math.cos(angle) / width, dist * math.sin(angle) / height
    moved = tuple(replace(o, x=o.x + dx, y=o.y + dy) for o in scene.objects)
    return scene_with(scene, objects=moved)
