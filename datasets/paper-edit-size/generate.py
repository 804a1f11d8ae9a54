"""Regenerate this dataset: ``python datasets/paper-edit-size/generate.py`` (deterministic).

Claim (e), "SINE fails when the edit changes too much": the twelve held-out scenes of
``../paper-toy`` (the same PNGs and class words, so the paper-toy fine-tunes are reused)
with eight edits each, graded by how much they change. Every edit acts on the object
named by the fine-tune's class word (the leftmost one) and on the background:

- ``color``: that object's colour; ``shape``: its shape, i.e. a **class change** (the
  fine-tune's class word no longer names anything in the target);
- ``background``: the background colour; ``texture``: plain -> striped background.

The design is nested: each larger edit adds one attribute to a smaller one, and each
class-change edit is the colour edit of the same size with the colour swapped for the
shape. The one-attribute colour and shape edits are paper-toy's own (same text, so their
cached edits are reused), and so is the background edit where paper-toy's new background
differs from the new object colour (10 of 12 scenes). Prompts are full target captions,
so the oracle knows exactly which attributes were asked to change. Each edit has its own
mask (``masks/``: where the source and target renders differ, grown by 2 px).
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import replace as with_fields
from pathlib import Path

import yaml
from PIL import Image

from sine_bench.toy.scenes import COLORS, Scene, changed_region, random_scene, scene_with

HERE = Path(__file__).parent
SIZE = 64
# The attributes each prompt changes, in prompt order (the test checks every caption
# against this with the oracle's own parser).
DESIGN: tuple[frozenset[str], ...] = tuple(
    frozenset(attrs)
    for attrs in (
        ("background",),
        ("color",),
        ("shape",),
        ("color", "background"),
        ("shape", "background"),
        ("color", "background", "texture"),
        ("shape", "background", "texture"),
        ("shape", "color", "background", "texture"),
    )
)


def _paper_toy():
    """datasets/paper-toy/generate.py as a module: its scenes and its one-attribute edits."""
    spec = importlib.util.spec_from_file_location(
        "paper_toy_generate", HERE.parent / "paper-toy" / "generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def new_values(scene: Scene, seed: int) -> dict[str, str]:
    """The new background, colour and shape of this scene's edits: paper-toy's, except a
    background equal to the new object colour (the object would vanish), redrawn."""
    paper_toy = _paper_toy()
    new_bg, recolored, reshaped = paper_toy.edits(scene, random.Random(seed))
    i = paper_toy._leftmost(scene)
    color, shape = recolored.objects[i].color, reshaped.objects[i].shape
    background = new_bg.background
    if background == color:
        taken = {scene.background, color, *(o.color for o in scene.objects)}
        background = random.Random(seed + 1).choice([c for c in COLORS if c not in taken])
    return {"background": background, "color": color, "shape": shape}


def target(scene: Scene, attributes: frozenset[str], values: dict[str, str]) -> Scene:
    """The scene with the given attributes changed (objects keep their places)."""
    i = _paper_toy()._leftmost(scene)
    obj = scene.objects[i]
    if "color" in attributes:
        obj = with_fields(obj, color=values["color"])
    if "shape" in attributes:
        obj = with_fields(obj, shape=values["shape"])
    objects = tuple(obj if j == i else o for j, o in enumerate(scene.objects))
    return scene_with(
        scene,
        objects=objects,
        background=values["background"] if "background" in attributes else scene.background,
        texture="striped" if "texture" in attributes else scene.texture,
    )


def graded_item(scene, seed: int, name: str, image: str, root: Path, write_files: bool) -> dict:
    """One manifest item: the scene's eight graded edits (``DESIGN``) with a mask each
    (written under ``root / "masks"`` with ``write_files``). Shared with the datasets
    that ask the same kinds of edits of other scenes (datasets/edit-score-fit)."""
    values = new_values(scene, seed)
    targets = [target(scene, attributes, values) for attributes in DESIGN]
    masks = {}
    for k, edited in enumerate(targets):
        masks[edited.caption()] = f"masks/{name}-p{k}.png"
        if write_files:
            mask = changed_region(scene, edited, SIZE, SIZE)
            Image.fromarray(mask.astype("uint8") * 255).save(root / masks[edited.caption()])
    return {
        "id": name,
        "image": image,
        "class_word": scene.objects[_paper_toy()._leftmost(scene)].shape,
        "source": scene.caption(),
        "prompts": [t.caption() for t in targets],
        "masks": masks,
    }


def build(write_files: bool = False) -> dict:
    """The manifest (and, with ``write_files``, the masks it names)."""
    paper_toy = _paper_toy()
    if write_files:
        (HERE / "masks").mkdir(exist_ok=True)
    items = []
    for index in range(paper_toy.N_SCENES):
        seed = paper_toy.FIRST_SEED + index
        scene = random_scene(seed, n_objects=1 + index % 2, striped_prob=0.0)
        name = f"scene-{index:02d}"
        items.append(graded_item(scene, seed, name, f"../paper-toy/{name}.png", HERE, write_files))
    return {
        "description": (
            "paper-edit-size: the 12 paper-toy scenes with eight edits each, graded by size: "
            "1-4 changed attributes (object colour, background colour, background texture) "
            "with and without a class change (the class word's object changes shape); "
            "generated by generate.py"
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
