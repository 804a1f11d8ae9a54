"""Helpers the tests import (conftest.py holds only fixtures): the repo root, a small
protocol writer, toy-smoke relocated to a temp folder, and a fresh-interpreter help call."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_protocol(tmp_path: Path, **overrides) -> Path:
    """A small protocol on the toy-smoke dataset with its store and output in tmp_path;
    ``overrides`` deep-merge into it."""
    import yaml

    from sine_bench.protocol.loading import deep_merge

    data = {
        "name": "test-small",
        "model": {"name": "tiny-random"},
        "dataset": str(ROOT / "datasets" / "toy-smoke"),
        "finetune": {"steps": 3, "lr": 1e-4},
        "edit": {"steps": 4},
        "grid": {"v": [0.5, 1.0], "K": [400, 800], "resolution": ["64x96"], "seeds": [0]},
        "metrics": ["psnr", "ssim", "psnr_masked", "oracle_edit_success", "oracle_count"],
        "output": str(tmp_path / "run"),
        "store": str(tmp_path / "store"),
    }
    data = deep_merge(data, overrides)
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# the suite's toy-smoke: the dataset's first five sources (the twelve of the README's
# job cost ~2.5x as much); its baseline is results/baselines/toy-smoke-limit-5.json
TOY_SMOKE_SUITE_LIMIT = 5


def toy_smoke_here(tmp_path: Path, limit: int | None = None) -> Path:
    """protocols/toy-smoke.yaml with its output and store in ``tmp_path``; ``limit``: its
    dataset's first items only (``run --limit``)."""
    import yaml

    protocol = tmp_path / "toy-smoke-here.yaml"
    dataset = str(ROOT / "datasets" / "toy-main")
    here = {
        "include": str(ROOT / "protocols" / "toy-smoke.yaml"),
        "dataset": dataset if limit is None else {"path": dataset, "limit": limit},
        "output": str(tmp_path / "run"),
        "store": str(tmp_path / "store"),
    }
    protocol.write_text(yaml.safe_dump(here))
    return protocol


def help_in_fresh_interpreter(args: list[str], modules: tuple[str, ...]) -> tuple[int, str, list]:
    """``sine-bench ARGS`` (a help call) in a new interpreter: its exit code, its output,
    and which of ``modules`` that import pulled in (help must stay fast)."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from sine_bench.cli import app\n"
        f"r = CliRunner().invoke(app, {args!r})\n"
        f"heavy = [m for m in {modules!r} if m in sys.modules]\n"
        "print(json.dumps([r.exit_code, r.output, heavy]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    exit_code, output, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    return exit_code, output, heavy
