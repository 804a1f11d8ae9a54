"""The oracle must be right on renders (>= 0.98 colour and count) before it is trusted."""

import numpy as np
import pytest

from sine_bench.toy.oracle import agreement, parse_caption, read_image
from sine_bench.toy.scenes import random_scene, render


def _accuracy(seeds, aspect=1.0, size=(64, 64), noise=0.0):
    totals = {}
    rng = np.random.default_rng(0)
    for seed in seeds:
        scene = random_scene(seed, aspect=aspect)
        image = render(scene, *size).astype(np.float32)
        if noise:
            image = np.clip(image + rng.normal(0, noise, image.shape), 0, 255)
        for key, value in (
            agreement(read_image(image.astype(np.uint8)), scene.caption()).as_dict().items()
        ):
            totals[key] = totals.get(key, 0.0) + value
    return {k: v / len(seeds) for k, v in totals.items()}


def test_oracle_on_held_out_square_renders():
    acc = _accuracy(range(500_000, 500_150))
    assert acc["background"] >= 0.98 and acc["count"] >= 0.98 and acc["color"] >= 0.98
    assert acc["shape"] >= 0.95 and acc["size"] >= 0.95


def test_oracle_on_non_square_and_noisy_renders():
    wide = _accuracy(range(600_000, 600_060), aspect=2.0, size=(64, 128))
    noisy = _accuracy(range(700_000, 700_060), noise=8.0)
    for acc in (wide, noisy):
        assert acc["count"] >= 0.95 and acc["color"] >= 0.95 and acc["background"] >= 0.98


@pytest.mark.parametrize("size", [(64, 96), (96, 64), (64, 128), (128, 64), (128, 128)])
def test_oracle_reads_renders_at_every_size_a_source_comes_in(size):
    """datasets/paper-resolution's sizes (H x W): scenes laid out for the canvas, plain and
    striped, 1-3 objects; the oracle must read them as on the native square."""
    h, w = size
    acc = _accuracy(range(800_000 + h * w, 800_000 + h * w + 60), aspect=w / h, size=size)
    assert acc["background"] >= 0.98 and acc["count"] >= 0.98 and acc["color"] >= 0.98
    assert acc["shape"] >= 0.95 and acc["size"] >= 0.95 and acc["texture"] >= 0.95


def test_oracle_detects_a_wrong_caption():
    scene = random_scene(42, n_objects=1)
    reading = read_image(render(scene))
    obj = scene.objects[0]
    wrong_color = next(c for c in ("red", "blue") if c not in (obj.color, scene.background))
    caption = f"a {obj.size} {wrong_color} {obj.shape} on a {scene.background} background"
    result = agreement(reading, caption)
    assert result.color == 0.0 and result.background == 1.0 and result.shape == 1.0


def test_parse_caption():
    facts = parse_caption("a small red circle and a large blue cross on a striped white background")
    assert facts.background == "white" and facts.texture == "striped"
    assert facts.objects == (("small", "red", "circle"), ("large", "blue", "cross"))
    assert parse_caption("a photo of a sks circle").objects == ((None, None, "circle"),)
