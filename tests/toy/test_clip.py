import json
import random

import pytest
import torch

from sine_bench.toy.clip import CONTEXT_LENGTH, load_toy_clip, preprocess, tokenize
from sine_bench.toy.evaluator_quality import BARS, _images, evaluator_quality, held_out_scenes
from sine_bench.toy.train_clip import pick_kind, train_toy_clip
from sine_bench.toy.variants import change_one_attribute

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clip():
    return load_toy_clip()


def test_shipped_clip_scores_matching_caption_highest(clip):
    scenes = held_out_scenes(8)
    images = _images(scenes)
    rng = random.Random(0)
    right = clip.score(images, [s.caption() for s in scenes])
    swapped = clip.score(
        images, [change_one_attribute(s, rng, "background").caption() for s in scenes]
    )
    other = clip.score(images, [s.caption() for s in scenes[1:] + scenes[:1]])
    assert (right > swapped).all()
    assert (right > other).all()
    assert right.abs().max() <= 100.0


def test_text_pooling_reads_the_first_end_of_text(clip):
    ids = tokenize(clip.tokenizer, ["a red circle on a blue background"])
    eot = len(clip.tokenizer) - 1
    assert ids.shape == (1, CONTEXT_LENGTH)
    assert ids[0, -1] == eot  # padded with end-of-text
    first = int((ids[0] == eot).nonzero()[0])
    assert int(ids[0].argmax()) == first  # what open_clip's argmax pooling picks


def test_preprocess_accepts_any_size():
    x = preprocess(torch.rand(2, 3, 48, 80))
    assert x.shape == (2, 3, 64, 64)
    with pytest.raises(ValueError):
        preprocess(torch.rand(3, 64, 64))


def test_reduced_evaluator_quality_returns_sane_numbers(clip):
    result = evaluator_quality(n=6, clip=clip)
    for key in BARS:
        assert 0.0 <= result[key] <= 1.0
    assert result["lpips_backend"] in ("st_lpips[alex]", "lpips[alex]")
    assert result["clip_t_auroc_background"] > 0.5
    assert result["lpips_rank_rate_color"] > 0.5
    assert 0 < result["lpips_mean_jitter"] < result["lpips_mean_background"]
    assert result["lpips_backend_vgg"] in ("st_lpips[vgg]", "lpips[vgg]")
    assert 0 < result["lpips_mean_vgg_jitter"] < result["lpips_mean_vgg_background"]
    assert 0.0 <= result["lpips_rank_rate_vgg_shape"] <= 1.0
    json.dumps(result)


def test_kind_weights_skew_the_changed_attribute():
    rng = random.Random(0)
    picks = [pick_kind(rng, (0, 1, 0, 0, 0)) for _ in range(20)]
    assert set(picks) == {"shape"}
    assert pick_kind(rng, None) is None  # uniform: chosen inside change_one_attribute
    with pytest.raises(ValueError, match="kind_weights"):
        pick_kind(rng, (1, 1))


def test_quick_training_writes_loadable_weights_and_resumes(tmp_path):
    train_toy_clip(tmp_path, steps=2, batch_size=4, seed=1, quick=True, show_progress=False)
    loaded = load_toy_clip(weights_dir=tmp_path)
    assert loaded.encode_texts(["a red circle"]).shape[-1] == 128
    train_toy_clip(tmp_path, steps=3, batch_size=4, seed=1, quick=True, show_progress=False)
    info = json.loads((tmp_path / "train_info.json").read_text())
    assert info["steps"] == 3
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 3


def test_missing_weights_give_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="toy CLIP weights are missing"):
        load_toy_clip(weights_dir=tmp_path)
