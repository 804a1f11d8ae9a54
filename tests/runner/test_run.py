"""End to end: a run writes every output; a rerun is all cached; a killed run resumes
to the same cells table as an uninterrupted one."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from sine_bench.runner.run import run_protocol
from tests.helpers import ROOT, write_protocol


def test_run_writes_every_output(small_run):
    _, out, _ = small_run
    for name in (
        "protocol.yaml",
        "manifest.json",
        "cells.csv",
        "cells.parquet",
        "summary.json",
        "report.html",
        "summary/v.csv",
        "summary/v.md",
        "summary/K.md",
        "summary/seed.md",
        "plots/tradeoff_over_v.png",
        "plots/tradeoff_over_K.png",
        "plots/metrics_vs_K.png",
        "plots/metrics_vs_v.png",
        "images/source/blue-circle.png",
    ):
        assert (out / name).is_file(), name
    cells = pd.read_parquet(out / "cells.parquet")
    assert len(cells) == 3 * 2 * 2 * 2  # prompts x v x K x seeds
    assert all((out / p).is_file() for p in cells["image"])
    for column in (
        "clip_t[test-fake]",
        "lpips[test-fake]",
        "seed_collapse[test-fake]",
        "editability_gap[test-fake]",
        "memorization[test-fake]",
        "psnr_masked",
    ):
        assert column in cells.columns
    # masked metrics only where the item has a mask
    masked = cells.groupby("item")["psnr_masked"].apply(lambda s: s.notna().all())
    assert (
        masked["blue-circle"] and not cells[cells.item == "green-diamond"].psnr_masked.notna().any()
    )
    # v = 1 uses the pretrained model only: its editability gap is exactly zero
    assert (cells[cells.v == 1.0]["editability_gap[test-fake]"].abs() < 1e-9).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["fine-tune"]["computed"] == 2
    assert manifest["unet_evaluations"]["computed_this_run"] > 0
    assert {"git_commit", "libraries", "device", "model_identity"} <= set(manifest)
    assert "<img" in (out / "report.html").read_text()


def test_second_run_is_all_cached_and_fast(small_run):
    path, out, first = small_run
    logs = []
    start = time.perf_counter()
    run_protocol(path, progress=False, threads=1, log=logs.append)
    second = time.perf_counter() - start
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["all_cached"], manifest["stages"]
    assert all(s["computed"] == 0 for s in manifest["stages"].values())
    assert sum("all cached" in line for line in logs) == 3
    assert second < 30 and second < first


def test_plan_reports_cached_counts(small_run):
    from typer.testing import CliRunner

    from sine_bench.cli import app

    path, _, _ = small_run
    result = CliRunner().invoke(app, ["plan", str(path), "--no-cells"])
    assert result.exit_code == 0, result.output
    assert "fine-tunes:  2 (2 cached)" in result.output
    assert "; 0 still to run)" in result.output


def test_manifest_records_evaluations_and_time_per_stage(small_run):
    _, out, _ = small_run
    manifest = json.loads((out / "manifest.json").read_text())
    evaluations = manifest["unet_evaluations"]
    # toy-smoke's K sweep {400, 700} shares prefixes: fewer evaluations than edit by edit
    assert evaluations["grid_with_sharing"] < evaluations["cells"] + evaluations["extra_edits"]
    stages = manifest["stages"]
    for name, stage in stages.items():  # every job is either found in the store or computed
        assert stage["total"] == stage["cached"] + stage["computed"] > 0, name
    # the run counts the training steps of exactly the fine-tunes it computed (both alike)
    fine = stages["fine-tune"]
    per_finetune = evaluations["finetune_steps"] // fine["total"]
    assert per_finetune > 0 and fine["training_steps"] == per_finetune * fine["computed"]
    # the stages' wall times are parts of the run's
    assert 0 < sum(stage["seconds"] for stage in stages.values()) <= manifest["seconds_total"]


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "sine_bench.cli", "run", *args, "--threads", "1", "--no-progress"]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_sigkill_mid_edit_then_rerun_matches_uninterrupted(tmp_path):
    overrides = dict(edit={"steps": 40}, grid={"resolution": ["native"], "K": [400]})
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    killed_dir.mkdir()
    clean_dir.mkdir()
    killed = write_protocol(killed_dir, **overrides)
    proc = _cli(str(killed))
    edits = killed_dir / "store" / "edits"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        done = (
            [p for p in edits.glob("*/*") if not p.name.startswith(".")] if edits.exists() else []
        )
        if len(done) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed_dir / "run").exists()  # no half-written run directory
    resumed = _cli(str(killed))
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "fine-tune  2 jobs: 2 cached" in output
    assert not list(edits.glob("*/.*")), "the killed writer's temp folder was not swept"

    run_protocol(
        write_protocol(clean_dir, **overrides), progress=False, threads=1, log=lambda *_: None
    )
    a = pd.read_csv(killed_dir / "run" / "cells.csv")
    b = pd.read_csv(clean_dir / "run" / "cells.csv")
    pd.testing.assert_frame_equal(a, b)


def test_cells_sharing_an_edit_share_its_image(tmp_path):
    """'source-aspect' of a square source is 'native': one edit, two cells."""
    path = write_protocol(
        tmp_path, grid={"v": [0.5], "K": [400], "resolution": ["native", "source-aspect"]}
    )
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    cells = pd.read_csv(out / "cells.csv")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(cells) == 6 and manifest["stages"]["edit"]["total"] == 4
    wide = cells[(cells.item == "green-diamond") & (cells.resolution == "source-aspect")]
    assert (wide.height < wide.width).all()  # the 64x96 source keeps its aspect


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_protocol_trains_through_the_run_path(tmp_path, dtype):
    """A protocol with model.dtype bfloat16 / float16 fine-tunes (its stored UNet moved
    away from the base's weights almost everywhere, finite losses) and edits."""
    import torch

    from sine_bench.models.loading import load_model
    from sine_bench.sine import load_finetune

    path = write_protocol(
        tmp_path,
        model={"name": "tiny-random", "dtype": dtype},
        finetune={"steps": 3, "lr": 1e-6},
        grid={"v": [0.5], "K": [400]},
        metrics=["psnr"],
    )
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    assert json.loads((out / "manifest.json").read_text())["model_identity"]["dtype"] == dtype
    base = load_model("tiny-random", device="cpu", dtype=dtype)
    records = sorted((tmp_path / "store" / "finetunes").rglob("sine_finetune.json"))
    assert len(records) == 2  # the two toy-smoke images
    result = load_finetune(records[0].parent, base)
    before = torch.cat([p.float().flatten() for p in base.unet.parameters()])
    after = torch.cat([p.float().flatten() for p in result.model.unet.parameters()])
    assert float(((after - before) != 0).float().mean()) > 0.95
    assert all(map(math.isfinite, result.losses))
    assert pd.read_csv(out / "cells.csv")["psnr"].notna().all()
