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


def test_input_preparation_enters_only_the_keys_it_changes():
    """Antialiased downscales and normalised decoding (preparation 2) change a fine-tune's
    input only where it downscales or converts: only those keys move."""
    from sine_bench.runner.plan import input_preparation

    full = finetune_settings(FinetuneSpec(method="sine-full"), 64, 4)
    patch = finetune_settings(FinetuneSpec(method="sine-patch"), 64, 4)  # canvas 32*4 = 128
    assert input_preparation((64, 64), 64, 4, full, []) == {}  # identity: the key as before
    assert input_preparation((64, 96), 64, 4, full, [])["downscale"] == "antialiased"
    assert input_preparation((64, 64), 64, 4, patch, [])["downscale"] == "antialiased"  # crops
    small_canvas = finetune_settings(FinetuneSpec(method="sine-patch", patch_grid=16), 64, 4)
    assert input_preparation((64, 64), 64, 4, small_canvas, []) == {}  # crops only upscale
    rotated = input_preparation((64, 64), 64, 4, full, ["EXIF orientation 6 applied"])
    assert rotated["decoded"] == ["EXIF orientation 6 applied"]
    assert finetune_key("img", {}, "p", full, rotated) != finetune_key("img", {}, "p", full)
    assert finetune_key("img", {}, "p", full, {}) == finetune_key("img", {}, "p", full)


def test_cached_fine_tunes_of_unchanged_inputs_keep_their_keys():
    """The first paper-toy fine-tune (a 64x64 PNG, sine-full on the toy model) has had this
    key since the first reproduction: a store made then is still valid."""
    from sine_bench.protocol import load_protocol
    from sine_bench.runner.plan import build_plan
    from tests.conftest import ROOT

    plan = build_plan(load_protocol(ROOT / "protocols" / "paper-v-sweep.yaml"), ROOT)
    first = min(plan.finetunes.values(), key=lambda job: job.item)
    assert (first.item, first.key) == ("scene-00", "05170ed8f2e030773bfc")
