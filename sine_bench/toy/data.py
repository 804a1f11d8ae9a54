"""Rendered toy-scene datasets, cached on disk (they are a pure function of their seeds)."""

from __future__ import annotations

import hashlib
import os

import numpy as np
from tqdm.auto import tqdm

from ..fileio import cache_root
from .scenes import random_scene, render

DATA_VERSION = "1"
TRAIN_SEED_OFFSET = 0  # training scenes use seeds [0, n)
HELDOUT_SEED_OFFSET = 10_000_000  # evaluation scenes never overlap training ones


def render_scenes(
    n: int,
    seed_offset: int = TRAIN_SEED_OFFSET,
    size: int = 64,
    progress: bool = True,
    cache: bool = True,
) -> tuple[np.ndarray, list[str]]:
    """(n, size, size, 3) uint8 images and their captions for seeds offset..offset+n-1."""
    tag = hashlib.sha256(f"{DATA_VERSION}-{n}-{seed_offset}-{size}".encode()).hexdigest()[:16]
    path = cache_root() / "toy-data" / f"scenes-{tag}.npz"
    if cache and path.exists():
        data = np.load(path, allow_pickle=False)
        return data["images"], [str(c) for c in data["captions"]]
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    captions = []
    for i in tqdm(range(n), desc="rendering scenes", disable=not progress, mininterval=2):
        scene = random_scene(seed_offset + i)
        images[i] = render(scene, size, size)
        captions.append(scene.caption())
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, captions=np.array(captions))
        os.replace(tmp, path)
    return images, captions


def to_tensor(images: np.ndarray):
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
