"""Benchmark datasets written in their exact on-disk layouts, a few items each."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def encode_runs(mask: np.ndarray) -> list[int]:
    """PIE-Bench's mask list for a 0/1 array: [start, length, ...] over its row-major
    flattening (written here from the format's description, not its code)."""
    flat = mask.reshape(-1).astype(int).tolist() + [0]
    runs, start = [], None
    for index, value in enumerate(flat):
        if value and start is None:
            start = index
        elif not value and start is not None:
            runs += [start, index - start]
            start = None
    return runs


def reference_decode(runs: list[int], side: int = 512) -> np.ndarray:
    """An independent decoder: pixel by pixel, a run cut at the image's end, then the
    one-pixel border set to 1."""
    total = side * side
    flat = [0] * total
    for i in range(0, len(runs), 2):
        for offset in range(runs[i + 1]):
            if runs[i] + offset < total:
                flat[runs[i] + offset] = 1
    mask = np.array(flat, dtype=np.uint8).reshape(side, side)
    mask[0], mask[-1], mask[:, 0], mask[:, -1] = 1, 1, 1, 1
    return mask


def _image(path: Path, size: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_pie_bench(folder: Path) -> dict:
    """Three entries over two edit types; one source is 640x480 (cropped and resized on
    load), one mask's last run reaches past the image's end (cut there)."""
    box = np.zeros((512, 512), dtype=np.uint8)
    box[100:200, 150:300] = 1
    disc_y, disc_x = np.mgrid[:512, :512]
    disc = (((disc_y - 256) ** 2 + (disc_x - 256) ** 2) < 80**2).astype(np.uint8)
    overrun = encode_runs(box)[:-2] + [512 * 512 - 10, 50]
    mapping = {
        "000000000000": {
            "image_path": "0_random_140/000000000000.jpg",
            "original_prompt": "a [cat] sitting on a wooden table",
            "editing_prompt": "a [dog] sitting on a wooden table",
            "editing_instruction": "Make the cat a dog",
            "editing_type_id": "1",
            "blended_word": "cat dog",
            "mask": encode_runs(box),
        },
        "111000000000": {
            "image_path": "1_change_object_80/111000000000.png",
            "original_prompt": "a round [cake] with strawberries",
            "editing_prompt": "a round [pizza] with strawberries",
            "editing_instruction": "Turn the cake into a pizza",
            "editing_type_id": "1",
            "blended_word": "cake pizza",
            "mask": encode_runs(disc),
        },
        "222000000000": {
            "image_path": "2_add_object_80/222000000000.png",
            "original_prompt": "a house in the snow",
            "editing_prompt": "a house in the snow [at night]",
            "editing_instruction": "Make it night",
            "editing_type_id": "9",
            "blended_word": "",
            "mask": overrun,
        },
    }
    _image(folder / "annotation_images" / mapping["000000000000"]["image_path"], (512, 512), 0)
    _image(folder / "annotation_images" / mapping["111000000000"]["image_path"], (640, 480), 1)
    _image(folder / "annotation_images" / mapping["222000000000"]["image_path"], (512, 512), 2)
    (folder / "mapping_file.json").write_text(json.dumps(mapping))
    return mapping


def write_tedbench(folder: Path) -> list[dict]:
    entries = [
        {"img_name": "teddy_bear.jpeg", "target_text": "A photo of a teddy bear sitting"},
        {"img_name": "teddy_bear.jpeg", "target_text": "A photo of a teddy bear jumping"},
        {"img_name": "dog2.jpeg", "target_text": "A photo of a dog lying down"},
    ]
    for index, name in enumerate(["teddy_bear.jpeg", "dog2.jpeg"]):
        _image(folder / "originals" / name, (64, 48), index)
    (folder / "input_list.json").write_text(json.dumps(entries))
    return entries


def write_csv_folder(folder: Path) -> None:
    _image(folder / "imgs" / "cat.png", (64, 64), 0)
    _image(folder / "imgs" / "red_car.png", (64, 64), 1)
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[10:30, 10:30] = 255
    Image.fromarray(mask).save(folder / "imgs" / "cat_mask.png")
    (folder / "dataset.csv").write_text(
        "image,source_prompt,target_prompt,mask\n"
        "imgs/cat.png,a photo of a cat,a photo of a dog,imgs/cat_mask.png\n"
        "imgs/cat.png,a photo of a cat,a photo of a tiger,\n"
        'imgs/red_car.png,"a red car, parked","a blue car, parked",\n'
    )
