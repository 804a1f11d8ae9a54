"""datasets/paper-resolution and its protocols (issue 24): sources rendered at their own
sizes, one-attribute edits the oracle reads at every size, and the grids as written."""

import numpy as np
import pytest
from PIL import Image

from sine_bench.metrics.oracle import edited_attributes
from sine_bench.protocol.dataset import resolve_dataset
from sine_bench.protocol.loading import load_protocol
from sine_bench.toy.oracle import agreement, parse_caption, read_image
from tests.helpers import ROOT

SIZES = {(64, 96), (96, 64), (64, 128), (128, 64), (128, 128)}


def test_sources_come_at_every_size_and_the_oracle_reads_them():
    items = resolve_dataset(load_protocol(ROOT / "protocols" / "paper-resolution.yaml"), ROOT)
    seen, kinds = {}, []
    for item in items:
        image = np.asarray(Image.open(item.image_path).convert("RGB"))
        h, w = image.shape[:2]
        assert item.spec.id.startswith(f"r{h}x{w}-")  # ids name the size
        seen[(h, w)] = seen.get((h, w), 0) + 1
        source = parse_caption(item.spec.source)
        reading = read_image(image)
        right = agreement(reading, item.spec.source).as_dict()
        assert all(v == 1.0 for v in right.values()), (item.spec.id, right)
        for prompt in item.spec.prompts:
            changed = edited_attributes(source, parse_caption(prompt))
            assert len(changed) == 1, (item.spec.id, prompt, changed)
            kinds += changed
            mask = np.asarray(Image.open(item.prompt_masks[prompt]).convert("L"))
            assert mask.shape == (h, w) and 0 < (mask > 127).mean() < 1
    assert set(seen) == SIZES and min(seen.values()) >= 2
    assert set(kinds) == {"background", "color", "shape"}


@pytest.mark.parametrize(
    ("name", "cells"),
    [
        # sine: 3 v x 2 resolutions x 2 fine-tunes; pretrained 1; sdedit 2; ddim-inversion 2
        ("paper-resolution", 10 * 3 * (12 + 1 + 2 + 2)),
        # sine: 3 v x 3 step counts; the other methods as in paper-resolution
        ("paper-resolution-steps", 1 * 3 * (9 + 1 + 2 + 2)),
        # the "why" experiments: sine 2 v x 2 K x 3 w and pretrained at 3 w, 10 sources
        ("paper-resolution-why-sampling", 10 * 3 * (12 + 3)),
        # sine-patch: 3 v x 2 values of the swept fine-tune knob
        ("paper-resolution-why-crops", 4 * 3 * 6),
        ("paper-resolution-why-interpolation", 4 * 3 * 6),
        ("paper-resolution-why-patch-steps", 2 * 3 * 6),
        ("paper-resolution-why-patch-steps-more", 3 * 3 * 6),
    ],
)
def test_paper_resolution_protocols_plan_their_grids(name, cells):
    from sine_bench.runner.run import plan_summary

    protocol = load_protocol(ROOT / "protocols" / f"{name}.yaml")
    assert plan_summary(protocol)["cells"] == cells


@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        (
            "paper-resolution-why-sampling",
            {"64x96": 2, "96x64": 2, "64x128": 2, "128x64": 2, "64x64": 2},
        ),
        ("paper-resolution-why-crops", {"64x96": 2, "64x128": 2}),
        ("paper-resolution-why-patch-steps", {"64x96": 1, "64x128": 1}),
        ("paper-resolution-why-patch-steps-more", {"64x96": 1, "96x64": 2}),
    ],
)
def test_why_datasets_reuse_the_sources_at_their_sizes(name, sizes):
    """The "why" manifests point at paper-resolution's (and paper-toy's) files: every
    image and mask resolves, at the size its id names."""
    items = resolve_dataset(load_protocol(ROOT / "protocols" / f"{name}.yaml"), ROOT)
    seen: dict[str, int] = {}
    for item in items:
        h, w = np.asarray(Image.open(item.image_path)).shape[:2]
        seen[f"{h}x{w}"] = seen.get(f"{h}x{w}", 0) + 1
        for prompt in item.spec.prompts:
            assert Image.open(item.prompt_masks[prompt]).size == (w, h)
    assert seen == sizes
