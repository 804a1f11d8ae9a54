"""Synthetic cells tables whose trends, duplicates and endpoints are known."""

import numpy as np
import pandas as pd
import yaml
from PIL import Image

RNG = np.random.default_rng(0)


def sweep(axis: str, values, sign: int, n_items: int = 6) -> pd.DataFrame:
    """Cells where clip_t and LPIPS move with ``axis`` in direction ``sign``, preserved
    against it, plus noise; the other of v/K fixed."""
    rows = []
    for item in range(n_items):
        for value in values:
            x = sign * float(value) / max(values)
            rows.append(
                {
                    "item": f"s{item}",
                    "prompt_index": 0,
                    "prompt": "a large red circle on a blue background",
                    "seed": 0,
                    "v": float(value) if axis == "v" else 0.7,
                    "K": int(value) if axis == "K" else 400,
                    "resolution": "native",
                    "finetune.method": "sine-full",
                    "height": 64,
                    "width": 64,
                    "edit_key": f"{axis}{item}-{value}",
                    "clip_t[toy]": 30 + 20 * x + RNG.normal(0, 1),
                    "st_lpips[alex]": 0.3 + 0.2 * x + RNG.normal(0, 0.01),
                    "oracle_preserved": 0.9 - 0.3 * x + RNG.normal(0, 0.02),
                }
            )
    return pd.DataFrame(rows)


def nonsquare_cells() -> pd.DataFrame:
    """sine-full duplicates (count 2 for a 1-object caption) at non-square sizes in 5
    of 6 scenes; sine-patch in 0; nobody at the square size."""
    rows = []
    for item in range(6):
        for method in ("sine-full", "sine-patch"):
            for h, w in ((64, 64), (64, 128), (128, 64)):
                dup = method == "sine-full" and h != w and item < 5
                rows.append(
                    {
                        "item": f"s{item}",
                        "prompt_index": 0,
                        "prompt": "a large red circle on a blue background",
                        "seed": 0,
                        "v": 0.7,
                        "K": 400,
                        "finetune.method": method,
                        "height": h,
                        "width": w,
                        "oracle_count": 2.0 if dup else 1.0,
                    }
                )
    return pd.DataFrame(rows)


def write_run(folder, cells: pd.DataFrame, protocol: dict, images: dict | None = None):
    folder.mkdir(parents=True)
    cells.to_csv(folder / "cells.csv", index=False)
    (folder / "protocol.yaml").write_text(yaml.safe_dump(protocol))
    for name, color in (images or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), color).save(path)
    from sine_bench.runner.ownership import write_marker

    write_marker(folder)  # a finished run directory (runner/finished.py)
    return folder


def overfit_cells() -> tuple[pd.DataFrame, dict]:
    """Fine-tuned only: the same image for both prompts, close to the source; SINE and
    pretrained: a different image per prompt."""
    rows, images = [], {}
    for v, k, lpips, success in ((0.0, 0, 0.05, 0.0), (0.7, 400, 0.3, 0.7), (1.0, 400, 0.6, 0.9)):
        for p in (0, 1):
            image = f"images/edits/v{v}-p{p}.png"
            images[image] = (255, 0, 0) if v == 0.0 else (0, 255 * p, 100)
            rows.append(
                {
                    "item": "s0",
                    "prompt_index": p,
                    "prompt": f"prompt {p}",
                    "seed": 0,
                    "v": v,
                    "K": k,
                    "resolution": "native",
                    "height": 8,
                    "width": 8,
                    "edit_key": f"{v}-{k}-{p}",
                    "image": image,
                    "lpips[alex]": lpips,
                    "oracle_edit_success": success,
                    "oracle_preserved": 1.0 - lpips,
                    "clip_t[toy]": 10 + 50 * success,
                }
            )
    return pd.DataFrame(rows), images


def report_run(folder, n_items: int = 2):
    """A run directory report.html can be rendered from, without running anything: the
    manifest, a cells table over v x K (fine-tuned-only and pretrained-only references
    included) with toy-oracle and real-model metric columns, every source and edit
    image, one plot and one summary; images are 8 x 8 flat colours."""
    import json

    rows, images = [], {}
    for item in range(n_items):
        images[f"images/source/s{item}.png"] = (40 * item, 0, 0)
        for v in (0.0, 0.7, 1.0):
            for k in (0, 400):
                image = f"images/edits/s{item}-v{v}-K{k}.png"
                images[image] = (40 * item, int(200 * v), k // 2)
                rows.append(
                    {
                        "item": f"s{item}",
                        "prompt_index": 0,
                        "prompt": "a large red circle on a blue background",
                        "seed": 0,
                        "v": v,
                        "K": k,
                        "edit_key": f"s{item}-{v}-{k}",
                        "image": image,
                        "oracle_faithful": float(v == 0.7 and k == 400),
                        "oracle_edit_success": v,
                        "oracle_structure": 1.0 - v / 2,
                        "clip_t[toy]": 30 + 20 * v + item,
                        "st_lpips[alex]": 0.1 + 0.4 * v,
                    }
                )
    cells = pd.DataFrame(rows)
    write_run(folder, cells, {"name": "synthetic"}, images)
    cells.to_parquet(folder / "cells.parquet", index=False)
    manifest = {
        "protocol": "synthetic",
        "axes": ["v", "K", "seed"],
        "cells": len(cells),
        "unet_evaluations": {"total": 0},
        "stages": {"score": {"total": 5, "cached": 2, "computed": 3, "seconds": 0.5}},
        "warnings": ["a prompt was cut <short>"],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "plots").mkdir()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(folder / "plots" / "tradeoff_over_v.png")
    (folder / "summary").mkdir()
    summary = cells.groupby("v", as_index=False)["clip_t[toy]"].mean()
    summary["clip_t[toy]_lo"] = summary["clip_t[toy]"] - 1
    summary["clip_t[toy]_hi"] = summary["clip_t[toy]"] + 1
    summary.to_csv(folder / "summary" / "v.csv", index=False)
    return folder
