"""PIE-Bench's clamped CLIP scores of the whole edit and of its masked edit region."""

import math

import numpy as np
import pytest
import torch

from sine_bench.metrics.inputs import CellInputs
from sine_bench.metrics.registry import check_metric_name, metric_weights
from tests.fakes import FakeClip, register_fakes


def _cell(prompt: str, edit_mask: np.ndarray | None):
    rng = np.random.default_rng(11)
    a, b = (torch.from_numpy(rng.integers(0, 256, (1, 3, 32, 40)) / 255).float() for _ in "ab")
    keep = None if edit_mask is None else torch.from_numpy(edit_mask == 0)[None, None]
    return CellInputs(a, b, prompt, "s", prompt, keep=keep)


def _score(family: str, cell: CellInputs) -> float:
    register_fakes()
    name = check_metric_name(f"{family}[test-fake]")
    return name.info.load_scorer()(name, cell)


def _reference(cell: CellInputs, mask: np.ndarray | None) -> float:
    """torchmetrics CLIPScore as PnPInversion calls it: the uint8 image (times the 0/1
    mask), max(100 cos(image, text), 0)."""
    image = np.round(cell.edit[0].numpy().clip(0, 1) * 255).astype(np.uint8)
    if mask is not None:
        image = np.uint8(image * mask[None])
    clip = FakeClip()
    e_img = clip.encode_images(torch.from_numpy(image / 255.0)[None].float())[0]
    e_txt = clip.encode_texts([cell.prompt])[0]
    return max(100 * float(e_img @ e_txt), 0.0)


@pytest.mark.parametrize("prompt", ["a red cat", "blue dog on grass", "one", "two words"])
def test_matches_the_rederived_reference(prompt):
    mask = np.zeros((32, 40))
    mask[8:24, 10:30] = 1
    cell = _cell(prompt, mask)
    whole, edited = _score("clip_whole_pie", cell), _score("clip_edited_pie", cell)
    assert whole == pytest.approx(_reference(cell, None), rel=1e-5, abs=1e-9)
    assert edited == pytest.approx(_reference(cell, mask), rel=1e-5, abs=1e-9)


def test_clamped_at_zero_where_clip_t_is_negative():
    scores = []
    for prompt in ("a red cat", "blue dog on grass", "one", "two words", "x y z"):
        cell = _cell(prompt, None)
        clip_t = _score("clip_t", cell)
        scores.append(clip_t)
        assert _score("clip_whole_pie", cell) == pytest.approx(max(clip_t, 0.0), abs=1e-4)
    assert min(scores) < 0  # the clamp was exercised


def test_edited_is_nan_without_an_edit_region():
    assert math.isnan(_score("clip_edited_pie", _cell("a", None)))
    assert math.isnan(_score("clip_edited_pie", _cell("a", np.zeros((32, 40)))))


def test_vit_l14_is_a_record_that_plan_names():
    import open_clip

    (weight,) = metric_weights(["clip_whole_pie[ViT-L-14/openai]"])
    assert weight.kind == "open_clip" and weight.name == "ViT-L-14/openai"
    vision = open_clip.get_model_config("ViT-L-14")["vision_cfg"]
    assert (vision["width"], vision["layers"], vision["patch_size"]) == (1024, 24, 14)
