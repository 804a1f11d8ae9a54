import pytest
import torch

from sine_bench.models import UnknownModelError, load_model, save_model
from sine_bench.sine import FinetunedModel, sine_edit


def test_local_diffusers_dir_round_trip(tiny_model, tmp_path):
    save_model(tiny_model, tmp_path / "sd")
    loaded = load_model(str(tmp_path / "sd"), device="cpu")
    assert loaded.vae_factor == 4 and loaded.native_resolution == 64
    ft = FinetunedModel(tiny_model.unet, tiny_model.text_encoder, "a photo of a sks disc")
    ft2 = FinetunedModel(loaded.unet, loaded.text_encoder, "a photo of a sks disc")
    a = sine_edit(tiny_model, ft, "a green disc", steps=3)
    b = sine_edit(loaded, ft2, "a green disc", steps=3)
    assert torch.equal(a, b)
    assert loaded.tokenizer("a b").input_ids == tiny_model.tokenizer("a b").input_ids


def test_unknown_model_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UnknownModelError, match="not built in"):
        load_model("no-such-org/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownModelError, match="model_index.json"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="dtype"):
        load_model("tiny-random", dtype="float8")
