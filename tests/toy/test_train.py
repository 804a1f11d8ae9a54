"""`toy train --quick`: every stage of the recipe runs end to end and the result loads."""

import json

import pytest
import torch
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.models.loading import load_model


def test_quick_training_writes_a_loadable_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("SINE_BENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "toy"
    # --quick with fewer VAE and UNet steps (the step overrides' path): each stage still
    # crosses a checkpoint (every 10 steps), the VAE both its crop and whole-image phases
    # and the UNet its warm restart.
    budget = ["--quick", "--vae-steps", "10", "--unet-steps", "10", "--out", str(root)]
    result = CliRunner().invoke(app, ["toy", "train", *budget])
    assert result.exit_code == 0, result.output
    out = root / "sd"
    from sine_bench.toy.clip import load_toy_clip

    clip = load_toy_clip(weights_dir=root / "clip")
    assert clip.encode_texts(["a red circle"]).shape[0] == 1
    record = json.loads((out / "toy_recipe.json").read_text())
    assert record["recipe"]["unet_steps"] == 10 and record["parameters"]["unet"] > 6e6
    model = load_model(str(out), device="cpu")
    assert model.native_resolution == 64 and model.vae_factor == 4
    assert len(model.tokenizer) < 800
    assert model.vae.config.scaling_factor != 0.18215  # measured on the data, not SD's
    assert model.unet.dtype == torch.float32  # fp16 on disk, fp32 in memory
    # resuming a finished run recomputes nothing and gives the same weights
    before = {k: v.clone() for k, v in model.unet.state_dict().items()}
    again = CliRunner().invoke(app, ["toy", "train", "--stage", "sd", *budget])
    assert again.exit_code == 0, again.output
    reloaded = load_model(str(out), device="cpu")
    for key, value in reloaded.unet.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_unet_schedule_runs_each_warm_restart_as_its_own_cosine_cycle():
    from sine_bench.toy.train import _cosine_with_warmup

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    cycles = ((10, 0.5, 0.05), (20, 0.4, 0.02))
    scheduler = _cosine_with_warmup(optimizer, 30, 5, 1.0, 0.1, cycles)
    lrs = []
    for _ in range(62):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.2) and lrs[4] == pytest.approx(1.0)  # warm-up
    assert lrs[30] == pytest.approx(0.5) and lrs[40] == pytest.approx(0.4)  # restart peaks
    assert lrs[39] < lrs[31] and 0.02 < lrs[59] < lrs[41]  # each cycle decays
    assert lrs[61] == pytest.approx(0.02)  # past the last cycle: its floor


def test_a_toy_checkpoint_is_loaded_without_unpickling_code(tmp_path):
    """The resume path used torch.load(weights_only=False): a checkpoint file could run
    arbitrary code. Only tensors, numbers and strings load now."""
    import pickle

    import torch

    from sine_bench.toy.train import _load_checkpoint

    path = tmp_path / "vae.pt"
    torch.save({"step": 3, "evil": _Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(path, {}, torch.Generator())


class _Payload:
    """Any object a pickle may rebuild (a real attack would run code in __reduce__)."""
