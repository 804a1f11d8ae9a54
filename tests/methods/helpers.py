"""Helpers for the method tests: toy scenes as a dataset, runs of small protocols."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from PIL import Image

from sine_bench.runner.run import run_protocol
from tests.helpers import write_protocol


def toy_dataset(folder: Path, seeds: list[int], edit: bool = True) -> Path:
    """Toy scenes (held out: seeds >= 20,000,000) as a dataset; each prompted with its
    caption on another background (``edit``) or with its own caption."""
    from sine_bench.toy.scenes import COLORS, random_scene, render, scene_with

    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for seed in seeds:
        scene = random_scene(seed, n_objects=1, striped_prob=0.0)
        Image.fromarray(render(scene, 64, 64)).save(folder / f"s{seed}.png")
        used = {scene.background, *(o.color for o in scene.objects)}
        target = scene_with(scene, background=next(c for c in COLORS if c not in used))
        prompt = target.caption() if edit else scene.caption()
        items.append(
            {
                "id": f"s{seed}",
                "image": f"s{seed}.png",
                "class_word": scene.objects[0].shape,
                "source": scene.caption(),
                "prompts": [prompt],
            }
        )
    (folder / "manifest.yaml").write_text(yaml.safe_dump({"items": items}))
    return folder


def run_small(tmp_path: Path, **overrides) -> tuple[pd.DataFrame, Path]:
    """Run ``write_protocol`` with ``overrides``; (cells table, run directory)."""
    path = write_protocol(tmp_path, **overrides)
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    return pd.read_parquet(out / "cells.parquet"), out


def run_toy(tmp_path: Path, data: Path, methods: dict, seeds: list[int], metrics: list[str]):
    """A run on the toy model at paper-toy's edit settings (DDIM 10, w = 5, native size)."""
    grid = {"v": None, "K": None, "resolution": ["native"], "seeds": seeds}
    toy = dict(model={"name": "toy"}, dataset=str(data), edit={"steps": 10, "guidance": 5.0})
    return run_small(tmp_path, methods=methods, grid=grid, metrics=metrics, **toy)


def load01(path: Path):
    import numpy as np
    import torch

    array = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def psnr(a, b) -> float:
    import math

    mse = float(((a - b) ** 2).mean())
    return 100.0 if mse == 0 else 10 * math.log10(1.0 / mse)
