"""Regenerate this dataset: ``python datasets/toy-smoke/generate.py`` (deterministic)."""

from pathlib import Path

import numpy as np
from PIL import Image

from sine_bench.toy.scenes import random_scene, render

HERE = Path(__file__).parent

disc = random_scene(0, n_objects=1)  # a large blue circle on a white background
Image.fromarray(render(disc, 64, 64)).save(HERE / "blue-circle.png")
# mask: white = the edit may change it (the background); black = keep (the object)
pixels = render(disc, 64, 64).astype(int)
background = np.abs(pixels - np.array([240, 240, 240])).sum(-1) < 60
Image.fromarray((background * 255).astype(np.uint8)).save(HERE / "blue-circle-mask.png")

wide = random_scene(4, n_objects=1, aspect=1.5)  # non-square source
Image.fromarray(render(wide, 64, 96)).save(HERE / "green-diamond-wide.png")
print(disc.caption(), "|", wide.caption())
