"""KeywordRecolour (examples/sine-bench-examples), the black-box editor: it moves the
pixels of a colour the prompt swaps, keeps every other pixel and the size, and
returns the source unchanged for an edit no colour word states."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.examples.helpers import require_examples


@pytest.fixture(scope="module")
def editor():
    require_examples()
    from sine_bench_examples.recolour import KeywordRecolour

    return KeywordRecolour()


def scene() -> Image.Image:
    """A toy-like 40x60 picture: a reddish square (with a lighter stripe) on blue."""
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:] = (40, 80, 220)
    pixels[10:30, 20:40] = (220, 40, 40)
    pixels[18:20, 20:40] = (230, 70, 70)
    return Image.fromarray(pixels)


def test_a_colour_swap_moves_only_that_colour(editor):
    source = scene()
    out = editor.edit(
        source, "a red square on a blue background", "a green square on a blue background", 0
    )
    before, after = np.asarray(source, np.int16), np.asarray(out, np.int16)
    assert out.size == source.size and out.mode == "RGB"
    square = np.zeros(before.shape[:2], bool)
    square[10:30, 20:40] = True
    assert (after[~square] == before[~square]).all()  # the background is kept exactly
    green = np.array([0, 128, 0]) - np.array([220, 40, 40])  # CSS green minus the image's red
    assert np.abs(after[12, 25] - before[12, 25] - green).max() <= 1
    # the stripe keeps its offset from the square's colour (shading survives)
    stripe_offset = after[18, 25] - after[12, 25]
    assert np.abs(stripe_offset - (before[18, 25] - before[12, 25])).max() <= 1


def test_strength_and_tolerance_are_knobs(editor):
    source, prompts = (
        scene(),
        ("a red square on a blue background", "a red square on a yellow background"),
    )
    half = np.asarray(editor.edit(source, *prompts, 0, strength=0.5), np.int16)
    full = np.asarray(editor.edit(source, *prompts, 0), np.int16)
    before = np.asarray(source, np.int16)
    assert np.abs((full[0, 0] - before[0, 0]) / 2 - (half[0, 0] - before[0, 0])).max() <= 1
    none = editor.edit(source, *prompts, 0, tolerance=0.0)  # only the exact median colour
    assert (np.asarray(none)[0, 0] != before[0, 0]).any()
    assert editor.knobs == {"tolerance": 0.25, "strength": 1.0}


def test_an_edit_without_a_colour_word_returns_the_source(editor):
    source = scene()
    out = editor.edit(
        source, "a red square on a blue background", "a red circle on a blue background", 3
    )
    assert np.array_equal(np.asarray(out), np.asarray(source))
