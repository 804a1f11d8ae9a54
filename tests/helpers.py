"""Helpers the tests import (conftest.py holds only fixtures): the repo root, a small
protocol writer, toy-smoke relocated to a temp folder, a fresh-interpreter help call, and
images and edit_score inputs read back as the score stage reads them."""

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


def scored_image(path: Path, size: tuple[int, int] | None = None, resample=None):
    """An image as the score stage reads it: (1, 3, h, w) in [0, 1], resized to the
    scoring size (h, w) with ``resample`` when it differs."""
    import numpy as np
    import torch
    from PIL import Image

    img = Image.open(path).convert("RGB")
    if size and (img.height, img.width) != size:
        img = img.resize((size[1], size[0]), resample)
    array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None]


def anchored_inputs(source, edit, entry, item, load):
    """edit_score's inputs for one planned cell: its source and edit, its prompt and the
    item's source description, and its anchors' images (``load``: edit key -> image)."""
    from sine_bench.metrics.inputs import CellInputs

    prompt, anchors = entry.cell.prompt, entry.anchors
    return CellInputs(
        source,
        edit,
        prompt,
        item.spec.source,
        prompt,
        anchors_pretrained=[load(k) for k in anchors["pretrained"]],
        anchors_finetuned=[load(k) for k in anchors["finetuned"]],
    )
