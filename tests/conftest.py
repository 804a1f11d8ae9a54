"""Shared fixtures: the tiny random SD-architecture model, built once per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# under pytest-xdist each worker gets one core: one torch thread, and idle OpenMP threads
# sleep instead of spinning on the other worker's core (read when torch loads)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from tests.helpers import TOY_SMOKE_SUITE_LIMIT, toy_smoke_here, write_protocol  # noqa: E402

torch.set_num_threads(1 if _WORKER else 2)

# the suite never writes the user's cache (file digests, the tokenizer copy, toy scene
# data: $SINE_BENCH_CACHE, else ~/.cache/sine-bench); subprocesses inherit the variable
os.environ["SINE_BENCH_CACHE"] = tempfile.mkdtemp(prefix="sine-bench-test-cache-")


@pytest.fixture(scope="module")
def one_thread():
    """Small models run fastest on one thread; more only contend on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def protocol_classes():
    """The classes a test's protocols register (``methods.<name>.class``) are gone after
    it, so a later test's plug-in listing (``doctor``) does not see them."""
    from sine_bench.protocol.method_checks import METHODS

    with METHODS.rescanned():
        yield


@pytest.fixture(scope="session")
def tiny_model():
    from sine_bench.models.tiny_random import build_tiny_random

    return build_tiny_random(seed=0)


@pytest.fixture(scope="session")
def source_image() -> torch.Tensor:
    """A deterministic (3, 48, 80) non-square image in [-1, 1]: a red disc on blue."""
    h, w = 48, 80
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    disc = ((yy - 24) ** 2 + (xx - 30) ** 2 < 14**2).float()
    image = torch.stack([disc, 0.2 * (1 - disc), 1 - disc]) * 2 - 1
    return image


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A finished run of a small protocol with every metric family (fake backbones),
    two seeds so seed_collapse has pairs: (protocol path, run dir, seconds)."""
    import time

    from sine_bench.runner.run import run_protocol
    from tests.fakes import FAKE_METRICS, register_fakes

    register_fakes()
    tmp = tmp_path_factory.mktemp("small_run")
    metrics = ["psnr", "ssim", "psnr_masked", "ssim_masked", "oracle_edit_success"]
    metrics += ["oracle_preserved", "oracle_count", *FAKE_METRICS]
    path = write_protocol(tmp, metrics=metrics, grid={"seeds": [0, 1]})
    start = time.perf_counter()
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    return path, out, time.perf_counter() - start


@pytest.fixture(scope="session")
def limited_run(small_run) -> Path:
    """small_run's protocol rerun by the command line with ``--limit 1`` (its first item
    only; every job cached in small_run's store): the limited run directory."""
    from typer.testing import CliRunner

    from sine_bench.cli import app

    path, out, _ = small_run
    result = CliRunner().invoke(app, ["run", str(path), "--limit", "1", "--threads", "1"])
    assert result.exit_code == 0, result.output
    return out.with_name(f"{out.name}-limit-1")


@pytest.fixture(scope="session")
def toy_smoke_local(tmp_path_factory) -> Path:
    """The CI smoke protocol on its dataset's first five sources (TOY_SMOKE_SUITE_LIMIT),
    run once by the local executor (its run directory)."""
    from sine_bench.runner.run import run_protocol

    here = tmp_path_factory.mktemp("toy_smoke_local")
    protocol = toy_smoke_here(here, limit=TOY_SMOKE_SUITE_LIMIT)
    return run_protocol(protocol, progress=False, threads=1, log=lambda *_: None)


@pytest.fixture(scope="session")
def methods_run(tmp_path_factory):
    """A finished tiny-random run of every method (protocol path, run directory)."""
    from sine_bench.runner.run import run_protocol

    tmp = tmp_path_factory.mktemp("methods_run")
    methods = {
        "sine": {"grid": {"v": [0.5, 1.0]}},
        "pretrained": {},
        "dreambooth": {},
        "sdedit": {"grid": {"strength": [0.3, 1.0]}},
        "ddim-inversion": {"grid": {"guidance": [1.0, 3.0]}, "knobs": {"null_text_steps": 1}},
        "imagic": {"knobs": {"embed_steps": 1, "finetune_steps": 1}, "grid": {"eta": [0.0]}},
    }
    grid = {"v": None, "K": [400], "resolution": ["64x96"], "seeds": [0, 1]}
    metrics = ["psnr", "oracle_edit_success", "oracle_faithful", "seed_collapse[test-fake]"]
    from tests.fakes import register_fakes

    register_fakes()
    path = write_protocol(tmp, methods=methods, grid=grid, metrics=metrics)
    return path, run_protocol(path, progress=False, threads=1, log=lambda *_: None)
