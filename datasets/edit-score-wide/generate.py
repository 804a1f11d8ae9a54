"""Regenerate this dataset: ``python datasets/edit-score-wide/generate.py`` (deterministic).

A wider toy world for re-validating ``edit_score`` (docs/edit-score.md, issue 21): the
score was fitted on datasets/edit-score-fit and validated on datasets/paper-toy, both
plain backgrounds with one or two objects of different shapes. These scenes come from
four seed ranges no other dataset, training set or evaluation uses (50, 60, 70 and
80 million; the toy model trains on 0..29,999, its evaluators on 1,000,000+ and
9,000,000+, its evaluations use 10,000,000+, paper-toy 20,000,000+, toy-demo
31,000,000+, edit-score-fit 40,000,000+), and each range gives one scene of each kind:

- ``plain``: one or two objects on a plain background (paper-toy's kind, the control);
- ``same-shape``: two objects of the same shape (the class word names both);
- ``three``: three objects;
- ``striped``: one or two objects on a striped background.

A scene of a kind is the first seed at or after the kind's start in its range whose
drawn scene has that kind (the draw is ``random_scene``'s, unchanged; no scene is
chosen by how any model or metric does on it). Each scene gets paper-toy's three
one-attribute edits (background colour, the leftmost object's colour, its shape; built
by paper-toy's own ``edits``), each with its mask in ``masks/``.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import yaml
from PIL import Image

from sine_bench.toy.scenes import Scene, changed_region, random_scene, render

HERE = Path(__file__).parent
SEED_RANGES = (50_000_000, 60_000_000, 70_000_000, 80_000_000)
KINDS = ("plain", "same-shape", "three", "striped")
KIND_OFFSET = 1_000  # kind k of a range starts its search at range + k * KIND_OFFSET
SIZE = 64


def _paper_toy():
    """datasets/paper-toy/generate.py as a module (its ``edits`` and ``_leftmost``)."""
    spec = importlib.util.spec_from_file_location(
        "paper_toy_generate", HERE.parent / "paper-toy" / "generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _draw(kind: str, seed: int) -> Scene | None:
    """The scene ``seed`` draws for ``kind``, or None when the draw is not of that kind."""
    few = 1 + (seed // 10_000_000) % 2  # two objects in the 50/70 M ranges, one in 60/80 M
    if kind == "plain":
        return random_scene(seed, n_objects=few, striped_prob=0.0)
    if kind == "same-shape":
        scene = random_scene(seed, n_objects=2, striped_prob=0.0)
        return scene if scene.objects[0].shape == scene.objects[1].shape else None
    if kind == "three":
        try:
            return random_scene(seed, n_objects=3, striped_prob=0.0)
        except RuntimeError:  # three objects did not fit on this seed's draws
            return None
    if kind == "striped":
        return random_scene(seed, n_objects=few, striped_prob=1.0)
    raise ValueError(f"unknown kind {kind!r}")


def scene_for(kind: str, first_seed: int) -> tuple[int, Scene]:
    """The first seed at or after ``first_seed`` whose draw is of ``kind``, and its scene."""
    for seed in range(first_seed, first_seed + KIND_OFFSET):
        scene = _draw(kind, seed)
        if scene is not None:
            return seed, scene
    raise RuntimeError(f"no {kind} scene in seeds {first_seed}..{first_seed + KIND_OFFSET - 1}")


def build(write_files: bool = False) -> dict:
    """The manifest (and, with ``write_files``, the PNGs and masks it names)."""
    paper_toy = _paper_toy()
    if write_files:
        (HERE / "masks").mkdir(exist_ok=True)
    items = []
    for base in SEED_RANGES:
        for k, kind in enumerate(KINDS):
            seed, scene = scene_for(kind, base + k * KIND_OFFSET)
            name = f"s{seed}-{kind}"  # the seed in the name: its range and draw
            targets = paper_toy.edits(scene, random.Random(seed))
            masks = {}
            for e, target in enumerate(targets):
                masks[target.caption()] = f"masks/{name}-edit{e}.png"
                if write_files:
                    mask = changed_region(scene, target, SIZE, SIZE)
                    Image.fromarray(mask.astype("uint8") * 255).save(HERE / masks[target.caption()])
            if write_files:
                Image.fromarray(render(scene, SIZE, SIZE)).save(HERE / f"{name}.png")
            items.append(
                {
                    "id": name,
                    "image": f"{name}.png",
                    "class_word": scene.objects[paper_toy._leftmost(scene)].shape,
                    "source": scene.caption(),
                    "prompts": [t.caption() for t in targets],
                    "masks": masks,
                }
            )
    return {
        "description": (
            "edit-score-wide: 16 toy scenes (64x64) from four unused seed ranges (50, 60, 70, "
            "80 million), one per kind and range: plain 1-2 objects, a same-shape pair, three "
            "objects, a striped background; paper-toy's three one-attribute edits each; "
            "edit_score's wider held-out check; generated by generate.py"
        ),
        "items": items,
    }


def main() -> None:
    manifest = build(write_files=True)
    (HERE / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False, width=100))
    for item in manifest["items"]:
        print(item["id"], "|", item["source"], "|", item["class_word"])


if __name__ == "__main__":
    main()
