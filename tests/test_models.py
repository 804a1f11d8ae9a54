import pytest
import torch

from sine_bench.models.loading import UnknownModelError, load_model, save_model
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
    from huggingface_hub import constants

    from sine_bench.weights import MissingWeightsError

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UnknownModelError, match="not built in"):
        load_model("no-such-model")
    # a hub id is looked up in the local cache only: missing is a missing weight, at once
    with pytest.raises(MissingWeightsError, match="fetch-weights --model no-such-org/no"):
        load_model("no-such-org/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownModelError, match="model_index.json"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="dtype"):
        load_model("tiny-random", dtype="float8")


def _geometry_in_subprocess(cache, *names) -> list[str]:
    """huggingface_hub reads HF_HUB_CACHE / HF_HUB_OFFLINE at import: a fresh process."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sine_bench.models.loading import model_geometry\n"
        "from sine_bench.weights import MissingWeightsError\n"
        "for name in sys.argv[1:]:\n"
        "    try: print(model_geometry(name))\n"
        "    except MissingWeightsError as err: print('error:', err)\n"
    )
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", code, *names], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def test_hub_geometry_offline_without_cache_and_from_cache(tmp_path):
    """`plan` on an SD protocol must not download: a known hub id resolves from the table
    when its configs are not cached, a cached config wins over the table (e.g. another
    sample size), and an unknown uncached id is a missing weight (no network lookup)."""
    import json

    from sine_bench.models.loading import KNOWN_HUB_GEOMETRY

    assert KNOWN_HUB_GEOMETRY["stabilityai/stable-diffusion-2-1"] == (768, 8)
    cached = tmp_path / "cache"
    repo = cached / "models--someone--sd-fork"
    for part, config in (("unet", {"sample_size": 96}), ("vae", {"block_out_channels": [1] * 3})):
        (repo / "snapshots" / "abc" / part).mkdir(parents=True)
        (repo / "snapshots" / "abc" / part / "config.json").write_text(json.dumps(config))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    lines = _geometry_in_subprocess(
        cached, "CompVis/stable-diffusion-v1-4", "someone/sd-fork", "no-such-org/no-model"
    )
    assert lines[0] == "(512, 8)"
    assert lines[1] == "(384, 4)"
    assert lines[2].startswith("error:") and "not in the local cache" in lines[2]


def test_bfloat16_on_a_gpu_without_it_is_refused_at_plan_time(monkeypatch):
    """A precision the device cannot compute (so cannot train) in stops in one line."""
    import torch

    from sine_bench.models.loading import UnsupportedPrecisionError, check_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    with pytest.raises(UnsupportedPrecisionError, match="bfloat16 is not supported by Tesla T4"):
        check_precision("bfloat16", "cuda")
    check_precision("float16", "cuda")
    check_precision("bfloat16", "cpu")  # CPUs train bfloat16 under autocast
