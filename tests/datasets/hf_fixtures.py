"""MagicBrush and GEdit-Bench written in the Hugging Face datasets layouts on disk: the
Hub's parquet shards and ``save_to_disk``'s Arrow IPC stream files, built with pyarrow
from the layouts' description (an ``Image`` column is a struct of bytes and path)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def png(pixels: np.ndarray) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def noise(seed: int, side: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)


def box_mask(side: int = 48) -> np.ndarray:
    mask = np.zeros((side, side), dtype=np.uint8)
    mask[10:30, 12:36] = 255
    return mask


def magicbrush_rows() -> dict[str, list]:
    """Two sessions: image 139 with two turns (turn 2's source is turn 1's target, as in
    MagicBrush), image 30 with one."""
    first, second, third = noise(1), noise(2), noise(3)
    return {
        "img_id": ["139", "139", "30"],
        "turn_index": [1, 2, 1],
        "source_img": [png(noise(0)), png(first), png(noise(4))],
        "mask_img": [png(box_mask())] * 3,
        "instruction": ["Put a cat on the seat", "Make the cat black", "Add a hat"],
        "target_img": [png(first), png(second), png(third)],
    }


def magicbrush_table(rows: dict[str, list] | None = None) -> pa.Table:
    rows = rows or magicbrush_rows()
    types = {"img_id": pa.string(), "turn_index": pa.int32(), "instruction": pa.string()}
    return pa.table({k: pa.array(v, types.get(k, IMAGE)) for k, v in rows.items()})


def gedit_table() -> pa.Table:
    rows = {
        "task_type": ["background_change", "color_alter", "color_alter"],
        "key": ["a1b2", "c3d4", "c3d4"],
        "instruction": ["Change the background to a beach", "Make the car red", "把车变成红色"],
        "instruction_language": ["en", "en", "cn"],
        "input_image": [png(noise(5)), png(noise(6)), png(noise(6))],
        "input_image_raw": [png(noise(7, 64)), None, png(noise(6))],
        "Intersection_exist": [True, False, False],
    }
    types = {k: IMAGE if "image" in k else pa.string() for k in rows}
    types["Intersection_exist"] = pa.bool_()
    return pa.table({k: pa.array(v, types[k]) for k, v in rows.items()})


def write_hub_parquet(folder: Path, table: pa.Table, split: str, shards: int = 1) -> None:
    """The Hub's layout: ``data/<split>-0000i-of-0000n.parquet``."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // shards)
    for i in range(shards):
        name = f"{split}-{i:05d}-of-{shards:05d}.parquet"
        pq.write_table(table.slice(i * step, step), folder / "data" / name)


def write_saved_dict(folder: Path, tables: dict[str, pa.Table]) -> None:
    """``DatasetDict.save_to_disk``'s layout: ``dataset_dict.json`` and per split
    ``<split>/data-00000-of-00001.arrow`` (the IPC stream format) beside ``state.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(tables)}))
    for split, table in tables.items():
        (folder / split).mkdir()
        name = "data-00000-of-00001.arrow"
        path = str(folder / split / name)
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        state = {"_data_files": [{"filename": name}], "_split": split}
        (folder / split / "state.json").write_text(json.dumps(state))
        (folder / split / "dataset_info.json").write_text("{}")
