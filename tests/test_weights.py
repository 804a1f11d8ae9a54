"""Pretrained weights on offline clusters: plan and run name every missing weight and
the command that fetches it, in seconds (no hub retries); cached weights load from the
cache alone."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from sine_bench import weights
from sine_bench.cli import app
from sine_bench.metrics.backbones import BACKBONES
from tests.helpers import ROOT, write_protocol

runner = CliRunner()
SD = "CompVis/stable-diffusion-v1-4"
REAL_METRICS = ["psnr", "clip_t[ViT-B-32/openai]", "lpips[alex]"]


class _HubSpy:
    """A local endpoint standing in for the hub: it records each request's first line and
    answers none, so a test shows which lookups were made instead of timing them (timings
    flake on a busy machine). Libraries may ask the hub for their own files on import
    (bitsandbytes, when the [memory] extra is installed, asks for a kernel): tests look
    for requests naming the model."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.requests: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.requests.append(conn.recv(4096).decode("latin-1").split("\r\n")[0])
                except OSError:
                    self.requests.append("")

    def asked_for(self, repo: str) -> list[str]:
        return [line for line in self.requests if repo in line]


def _cli_in_fresh_env(
    tmp_path, args, offline: bool
) -> tuple[subprocess.CompletedProcess, float, _HubSpy]:
    """``sine-bench ARGS`` in a new interpreter whose caches are empty folders (the hub
    client reads its cache location at import), with the hub at a local spy; network
    allowed unless ``offline``. Returns the process, its seconds and the spy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "torch")}
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    spy = _HubSpy()
    env["HF_ENDPOINT"] = spy.url
    cmd = [sys.executable, "-m", "sine_bench.cli", *args]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    finally:
        spy.server.close()
    return done, time.perf_counter() - start, spy


def _source(kind: str, name: str) -> str:
    """Where the backbone record says its one weight file comes from."""
    (weight,) = BACKBONES[kind].get(name).weights
    return weight.source


@pytest.mark.parametrize("offline", [False, True], ids=["network-not-disabled", "HF_HUB_OFFLINE"])
def test_run_names_each_missing_weight_and_the_fetch_command_in_seconds(tmp_path, offline):
    """Nothing is cached here and there is no network: the run stops before any compute
    with one line (exit 1), in seconds, whether or not HF_HUB_OFFLINE is set (it used to
    take ~58 s of hub retries and say 'check your connection')."""
    protocol = write_protocol(tmp_path, model={"name": SD}, metrics=REAL_METRICS)
    done, seconds, hub = _cli_in_fresh_env(
        tmp_path, ["run", str(protocol), "--no-progress"], offline
    )
    lines = [line for line in done.stderr.splitlines() + done.stdout.splitlines() if line]
    assert done.returncode == 1 and len(lines) == 1, done.stdout + done.stderr
    assert lines[0].startswith("error: weights not in the local cache:")
    assert f"Stable Diffusion checkpoint {SD}@main (for model.name)" in lines[0]
    assert "open_clip ViT-B-32/openai (for clip_t[ViT-B-32/openai])" in lines[0]
    assert lines[0].endswith(f"sine-bench fetch-weights {protocol}")
    assert hub.asked_for(SD) == []  # it used to take ~60 s of hub retries
    assert seconds < 120, seconds  # a hang guard only: ~1 s on an idle machine
    assert not (tmp_path / "store").exists() and not (tmp_path / "run").exists()


def test_plan_shows_the_plan_then_the_missing_weights(tmp_path):
    protocol = write_protocol(tmp_path, model={"name": SD}, metrics=REAL_METRICS)
    done, _, _ = _cli_in_fresh_env(tmp_path, ["plan", str(protocol), "--no-cells"], offline=False)
    assert done.returncode == 1, done.stderr
    assert "cells:" in done.stdout  # SD v1.4's geometry is known offline
    assert "note: torchvision ImageNet alexnet weights not cached" in done.stdout
    assert "st_lpips" in done.stdout
    assert done.stderr.strip().startswith("error: weights not in the local cache:")
    assert f"sine-bench fetch-weights {protocol}" in done.stderr


def test_an_unknown_uncached_hub_model_is_a_missing_weight_not_a_lookup(tmp_path):
    protocol = write_protocol(tmp_path, model={"name": "someone/private-sd"})
    done, seconds, hub = _cli_in_fresh_env(tmp_path, ["plan", str(protocol)], offline=False)
    assert done.returncode == 1 and "someone/private-sd@main" in done.stderr
    assert hub.asked_for("someone/private-sd") == []
    assert seconds < 120, seconds  # a hang guard only


def _fake_hub_snapshot(cache, repo: str, files: dict) -> str:
    """Lay out ``files`` (relative path -> bytes or source path) like the hub cache does."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    base = cache / f"models--{repo.replace('/', '--')}"
    for rel, data in files.items():
        path = base / "snapshots" / commit / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    return commit


def test_a_cached_hub_pipeline_runs_from_the_cache_alone(tmp_path, tiny_model, monkeypatch):
    from huggingface_hub import constants

    from sine_bench.models.loading import save_model
    from sine_bench.runner.run import run_protocol

    save_model(tiny_model, tmp_path / "saved")
    files = {
        str(p.relative_to(tmp_path / "saved")): p.read_bytes()
        for p in (tmp_path / "saved").rglob("*")
        if p.is_file()
    }
    cache = tmp_path / "hub"
    commit = _fake_hub_snapshot(cache, "someone/tiny-sd", files)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert weights.hub_snapshot("someone/tiny-sd") is not None
    protocol = write_protocol(
        tmp_path,
        model={"name": "someone/tiny-sd"},
        finetune={"steps": 1},
        edit={"steps": 2},
        grid={"v": [0.5], "K": [400], "resolution": ["64x64"]},
        metrics=["psnr"],
    )
    out = run_protocol(protocol, progress=False, threads=1, log=lambda *_: None)
    identity = json.loads((out / "manifest.json").read_text())["model_identity"]
    assert identity == {"kind": "hub", "id": "someone/tiny-sd", "revision": commit}
    # an incomplete snapshot (no UNet weights) does not count as cached
    for path in (cache / "models--someone--tiny-sd").rglob("unet/diffusion_pytorch_model.*"):
        path.unlink()
    assert weights.hub_snapshot("someone/tiny-sd") is None


def test_openai_clip_loads_from_the_cached_file_with_quickgelu(tmp_path, monkeypatch):
    """The file open_clip would download, found in the cache and loaded from the path
    (no hub call), with OpenAI's QuickGELU activation."""
    import open_clip
    import torch
    from huggingface_hub import constants
    from safetensors.torch import save_file

    from sine_bench.metrics.clip import load_open_clip

    reference = open_clip.create_model("ViT-B-32", force_quick_gelu=True)
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    save_file(state, tmp_path / "w.safetensors")
    cache = tmp_path / "hub"
    repo = _source("clip", "ViT-B-32/openai")
    _fake_hub_snapshot(
        cache, repo, {weights.OPEN_CLIP_FILES[0]: (tmp_path / "w.safetensors").read_bytes()}
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    clip = load_open_clip("ViT-B-32", "openai")
    images = torch.rand(1, 3, 64, 64)
    got = clip.encode_images(images)
    assert got.shape == (1, 512) and torch.isfinite(got).all()
    assert clip.encode_texts(["a red disc"]).shape == (1, 512)


def test_missing_openai_clip_is_a_missing_weight(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from sine_bench.metrics.clip import load_open_clip

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(weights.MissingWeightsError, match="fetch-weights --metric"):
        load_open_clip("ViT-B-32", "openai")


def test_torchvision_lookup_follows_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = _source("lpips", "alex")
    assert weights.torchvision_file(url) is None
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "alexnet-owt-7be5be79.pth").write_bytes(b"x")
    assert weights.torchvision_file(url) == checkpoints / "alexnet-owt-7be5be79.pth"


def test_pinned_download_locations_match_the_libraries():
    from open_clip.pretrained import get_pretrained_cfg
    from torchvision.models import AlexNet_Weights, SqueezeNet1_1_Weights, VGG16_Weights

    hf_hub = get_pretrained_cfg("ViT-B-32", "openai")["hf_hub"].rstrip("/")
    assert _source("clip", "ViT-B-32/openai") == hf_hub
    assert _source("lpips", "alex") == AlexNet_Weights.IMAGENET1K_V1.url
    assert _source("lpips", "vgg") == VGG16_Weights.IMAGENET1K_V1.url
    hf_hub_l14 = get_pretrained_cfg("ViT-L-14", "openai")["hf_hub"].rstrip("/")
    assert _source("clip", "ViT-L-14/openai") == hf_hub_l14
    assert _source("lpips", "squeeze") == SqueezeNet1_1_Weights.IMAGENET1K_V1.url


def test_fetch_weights_command(tmp_path, monkeypatch):
    shipped = runner.invoke(app, ["fetch-weights", str(write_protocol(tmp_path))])
    assert shipped.exit_code == 0 and "nothing to fetch" in shipped.output
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = runner.invoke(app, ["fetch-weights", "--model", "someone/private-sd"])
    assert offline.exit_code == 1 and "HF_HUB_OFFLINE is set" in offline.output
    sdxl = runner.invoke(app, ["fetch-weights", "--model", "stabilityai/sdxl-turbo"])
    assert sdxl.exit_code == 2 and "SDXL checkpoints" in sdxl.output


def test_cached_alexnet_gives_standard_lpips_offline(tmp_path, monkeypatch):
    """Once fetch-weights has put torchvision's AlexNet in torch's hub cache, lpips[alex]
    is the standard LPIPS, loaded with no network (a stand-in file of the right shape)."""
    import torch
    import torchvision

    from sine_bench.metrics.lpips_backend import load_lpips

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.alexnet().state_dict(), path)
    assert weights.torchvision_file(_source("lpips", "alex")) == path
    metric = load_lpips("alex")
    assert metric.name == "lpips[alex]"
    a = torch.rand(1, 3, 64, 64)
    assert float(metric(a, a)[0]) == pytest.approx(0.0, abs=1e-6)


def test_a_pipeline_fingerprint_follows_what_a_load_reads(tmp_path, monkeypatch):
    """model_index.json and each component's files by content: new weights of the same
    size change it; a README, a hidden file or a folder no component names do not."""
    monkeypatch.setenv("SINE_BENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "ckpt"
    (folder / "unet").mkdir(parents=True)
    (folder / "scheduler").mkdir()
    index = {"_class_name": "X", "unet": ["diffusers", "U"], "scheduler": ["diffusers", "S"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "unet" / "config.json").write_text("{}")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 64)
    (folder / "scheduler" / "scheduler_config.json").write_text("{}")
    first = weights.pipeline_fingerprint(folder)
    (folder / "README.md").write_text("notes")
    (folder / "unet" / ".lock").write_text("")
    (folder / "other").mkdir()
    (folder / "other" / "x.bin").write_bytes(b"1")
    assert weights.pipeline_fingerprint(folder) == first
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\1" * 64)
    second = weights.pipeline_fingerprint(folder)
    (folder / "scheduler" / "scheduler_config.json").write_text('{"steps": 2}')
    assert len({first, second, weights.pipeline_fingerprint(folder)}) == 3
    (folder / "model_index.json").write_text("[]")
    with pytest.raises(ValueError, match="not a JSON object"):
        weights.pipeline_fingerprint(folder)
