"""Keys: anything that can change an artifact's bytes changes its key."""

from sine_bench.protocol import FinetuneSpec
from sine_bench.runner.keys import digest, edit_key, finetune_key, model_identity
from sine_bench.runner.plan import finetune_settings


def _ft_key(**changes):
    settings = finetune_settings(FinetuneSpec(**changes), 64, 4)
    return finetune_key("img", {"kind": "m"}, "a photo of a sks disc", settings)


def test_every_finetune_setting_changes_the_key():
    """A setting cannot change 'under' an existing key: a changed setting is a new key."""
    base = _ft_key()
    variants = [
        {"steps": 801},
        {"lr": 2e-6},
        {"method": "sine-full"},
        {"patch_grid": 40},
        {"patch_min_frac": 0.2},
        {"x0_l1_weight": 0.1},
        {"train_text_encoder": False},
        {"seed": 1},
        {"weight_decay": 0.0},
    ]
    keys = {_ft_key(**v) for v in variants}
    assert base not in keys and len(keys) == len(variants)


def test_image_model_and_prompt_change_the_key():
    settings = finetune_settings(FinetuneSpec(), 64, 4)
    base = finetune_key("a", {"w": "1"}, "p", settings)
    assert base != finetune_key("b", {"w": "1"}, "p", settings)
    assert base != finetune_key("a", {"w": "2"}, "p", settings)
    assert base != finetune_key("a", {"w": "1"}, "q", settings)


def test_edit_key_covers_settings_and_is_order_independent():
    a = edit_key("ft", "p", {"v": 0.7, "K": 400})
    assert a == edit_key("ft", "p", {"K": 400, "v": 0.7})
    assert a != edit_key("ft", "p", {"v": 0.7, "K": 401})
    assert digest({"x": 1}) != digest({"x": 2})


def test_tiny_random_identity_is_stable_and_seeded():
    assert model_identity("tiny-random") == model_identity("tiny-random")
    assert model_identity("tiny-random", seed=1) != model_identity("tiny-random")
    # a half-precision run computes other fine-tunes and edits: other keys
    assert model_identity("tiny-random", dtype="bfloat16") != model_identity("tiny-random")
    assert model_identity("tiny-random", dtype="float32") == model_identity("tiny-random")
