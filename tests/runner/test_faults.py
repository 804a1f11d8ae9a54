"""Faults of the environment, for real, in subprocesses: a full disk and a read-only
store are one `error:` line and exit 1, leave the store usable, and a rerun after
the fix recomputes nothing that had finished; SIGINT / SIGTERM say what is kept and
exit 130 / 143; two runs on one store compute every key once; entries honour the
umask (docs/errors.md)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sine_bench.protocol.loading import load_protocol
from tests.faults import (
    cli_command,
    cli_env,
    error_lines,
    file_size_limit,
    on_tmpfs,
    read_only,
    run_cli,
    start_cli,
    tmpfs_prefix,
)
from tests.helpers import ROOT, write_protocol

SMALL = dict(
    finetune={"steps": 2},
    edit={"steps": 3},
    grid={"v": [0.5], "K": [400], "resolution": ["64x64"], "seeds": [0]},
    metrics=["psnr", "ssim"],
)


def _items(*ids: str) -> dict:
    """toy-smoke's items ``ids`` inline, with absolute paths."""
    base = ROOT / "datasets" / "toy-smoke"
    items = []
    for item in yaml.safe_load((base / "manifest.yaml").read_text())["items"]:
        if item["id"] in ids:
            item = dict(item, image=str(base / item["image"]))
            if "mask" in item:
                item["mask"] = str(base / item["mask"])
            items.append(item)
    return {"items": items}


def _protocol(root: Path, name: str, **overrides) -> Path:
    """``root/name.yaml``: a small protocol with its store in ``root/store`` and its
    output in ``root/run-<name>``."""
    root.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(write_protocol(root, **(SMALL | overrides)).read_text())
    data |= {"store": str(root / "store"), "output": str(root / f"run-{name}")}
    target = root / f"{name}.yaml"
    target.write_text(yaml.safe_dump(data))
    return target


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def _stored(store: Path, stage: str) -> set[Path]:
    return {p for p in (store / stage).glob("*/*") if not p.name.startswith(".")}


def _leftovers(store: Path) -> list[Path]:
    """Temp entries a failed writer left behind (there must be none)."""
    return list(store.glob("*/*/.*"))


def _run(args, **kwargs):
    return run_cli(["run", *map(str, args), "--threads", "1", "--no-progress"], **kwargs)


def _rerun(path: Path) -> dict:
    """Run again in this process (cheaper than a new interpreter); the run's stage stats."""
    from sine_bench.runner.run import run_protocol

    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    return _manifest(out)["stages"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A folder whose store holds a finished one-item run, made under umask 002 (the
    tokenizer is cached first, so limits set later hit the store, not the user cache).
    It runs in this process (a new interpreter costs seconds of imports); the faults
    themselves are injected into real `sine-bench run` subprocesses below."""
    from sine_bench.runner.run import run_protocol
    from sine_bench.tokenizer import offline_clip_tokenizer

    offline_clip_tokenizer()
    root = tmp_path_factory.mktemp("finished")
    path = _protocol(root, "one", dataset=_items("blue-circle"))
    umask = os.umask(0o002)
    try:
        run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    finally:
        os.umask(umask)
    return root


def _copy_of(finished: Path, tmp_path: Path) -> Path:
    """``tmp_path`` with a copy of the finished store and protocol one.yaml using it."""
    shutil.copytree(finished / "store", tmp_path / "store", symlinks=True)
    _protocol(tmp_path, "one", dataset=_items("blue-circle"))
    return tmp_path


# ----------------------------------------------------------------- a full disk


def test_full_disk_mid_run_is_one_line_and_a_rerun_recomputes_nothing(finished, tmp_path):
    root = _copy_of(finished, tmp_path)
    before = _manifest(finished / "run-one")["stages"]
    both = _protocol(root, "both", dataset=_items("blue-circle", "green-diamond"))
    # the new item's fine-tune (megabytes of safetensors) cannot be written
    full = _run([both], preexec_fn=file_size_limit(256 * 1024))
    assert full.returncode == 1, full.stdout + full.stderr
    lines = error_lines(full.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: store entry "), full.stderr
    assert "File too large" in lines[0] and "rerun" in lines[0]
    assert not _leftovers(root / "store")
    assert not (root / "run-both").exists()

    after = _rerun(both)
    for stage in ("fine-tune", "edit", "score"):  # what the first run finished is reused
        assert after[stage]["cached"] == before[stage]["total"], (stage, after, before)
        assert after[stage]["computed"] == after[stage]["total"] - before[stage]["total"]


def test_a_disk_that_fills_mid_run_is_one_line_and_a_rerun_recomputes_nothing(finished, tmp_path):
    """A genuine ENOSPC through safetensors' writer: the store lives on a 128 MiB tmpfs
    that another process fills once the new fine-tune has taken its lock (loading the
    model and training take far longer than dd takes to fill a tmpfs)."""
    root = _copy_of(finished, tmp_path)
    both = _protocol(root, "both", dataset=_items("blue-circle", "green-diamond"))
    store, saved = root / "store", root / "saved"
    store.rename(saved)
    store.mkdir()
    command = shlex.join(cli_command(["run", str(both), "--threads", "1", "--no-progress"]))
    q = {name: shlex.quote(str(path)) for name, path in dict(store=store, saved=saved).items()}
    locks = f"{q['store']}/locks/finetunes"
    script = f"""
        cp -a {q["saved"]}/. {q["store"]}/ && rm -rf {q["saved"]}/*
        n=$(ls {locks} | wc -l)
        {command} 2> {shlex.quote(str(root / "stderr"))} & pid=$!
        while [ "$(ls {locks} | wc -l)" -le "$n" ]; do sleep 0.05; done
        dd if=/dev/zero of={q["store"]}/ballast bs=1M 2>/dev/null
        wait $pid; rc=$?
        rm -f {q["store"]}/ballast && cp -a {q["store"]}/. {q["saved"]}/ && exit $rc
    """
    result = subprocess.run(
        on_tmpfs(store, "128m", script),
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    stderr = (root / "stderr").read_text()
    assert result.returncode == 1, result.stdout + result.stderr + stderr
    lines = error_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("error: store entry "), stderr
    assert "No space left on device" in lines[0] and "rerun" in lines[0]
    store.rmdir()
    saved.rename(store)
    assert not _leftovers(store)
    before = _manifest(finished / "run-one")["stages"]
    after = _rerun(both)
    for stage in ("fine-tune", "edit", "score"):
        assert after[stage]["cached"] == before[stage]["total"], (stage, after, before)


def test_a_store_on_a_full_filesystem_fails_before_compute(tmp_path):
    """A genuine ENOSPC filesystem: 4 MiB of tmpfs is less than any run needs."""
    path = _protocol(tmp_path, "one", dataset=_items("blue-circle"))
    (tmp_path / "store").mkdir()
    prefix = tmpfs_prefix(tmp_path / "store", "4m")
    result = run_cli(["plan", str(path), "--no-cells"], prefix=prefix)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: store "), result.stderr
    assert "MiB free" in lines[0] and "free some space" in lines[0]


# ----------------------------------------------------------------- read-only folders


def test_read_only_store_fails_before_compute_and_a_rerun_recomputes_nothing(finished, tmp_path):
    """Both a cached protocol and one with a fine-tune still to train (which used to
    train, then end in a traceback when its lock or weights could not be written)."""
    root = _copy_of(finished, tmp_path)
    store = root / "store"
    both = _protocol(root, "both", dataset=_items("blue-circle", "green-diamond"))
    entries = sorted(store.rglob("*"))
    for path in (root / "one.yaml", both):
        with read_only(store) as prefix:
            result = _run([path], prefix=prefix)
        assert result.returncode == 1, result.stdout + result.stderr
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: store "), result.stderr
        assert "not writable" in lines[0], lines[0]
        assert "Read-only file system" in lines[0] or "Permission denied" in lines[0]
        assert "fine-tune" not in result.stdout  # no stage started
        assert sorted(store.rglob("*")) == entries  # the store is as it was
    stages = _rerun(root / "one.yaml")
    assert all(s["computed"] == 0 for s in stages.values()), stages


def test_read_only_output_fails_before_compute(tmp_path):
    parent = tmp_path / "outputs"
    parent.mkdir()
    path = _protocol(tmp_path, "one", dataset=_items("blue-circle"))
    data = yaml.safe_load(path.read_text()) | {"output": str(parent / "run")}
    path.write_text(yaml.safe_dump(data))
    with read_only(parent) as prefix:
        result = _run([path], prefix=prefix)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: output "), result.stderr
    assert "not writable" in lines[0], lines[0]
    assert not (tmp_path / "store").exists()  # nothing computed, nothing stored


# ----------------------------------------------------------------- signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_says_what_is_kept_and_a_rerun_reuses_it(finished, tmp_path, signum):
    root = _copy_of(finished, tmp_path)  # blue-circle's 2-step fine-tune is stored
    path = _protocol(root, "both", dataset=_items("blue-circle", "green-diamond"))
    data = yaml.safe_load(path.read_text())
    data["grid"]["finetune"] = {"steps": [2, 400]}  # and 3 more to train, 2 of them long
    path.write_text(yaml.safe_dump(data))
    store = root / "store"
    # A shell that starts jobs in the background ignores SIGINT for them, and Python
    # keeps an inherited "ignore": give the run what a terminal's Ctrl-C reaches.
    proc = start_cli(
        ["run", str(path), "--threads", "1", "--no-progress"],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    locks = store / "locks" / "finetunes"
    started = {p.name for p in locks.glob("*.lock")}  # the stored fine-tune's
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if {p.name for p in locks.glob("*.lock")} - started:  # training has begun
            break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before the signal: " + proc.communicate()[1]
    time.sleep(1.0)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stdout + stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    kept = len(_stored(store, "finetunes"))
    assert lines[0].startswith(f"interrupted ({signal.Signals(signum).name}): "), lines[0]
    assert 1 <= kept < 4  # interrupted while training; blue-circle's 2-step edits are kept
    assert f"kept {kept}/4 fine-tunes, 2/6 edits and 4/12 cell scores" in lines[0], lines[0]
    assert "rerun the same command to resume" in lines[0]
    assert not (root / "run-both").exists()
    assert not _leftovers(store)
    from sine_bench.runner.run import plan_summary

    assert plan_summary(load_protocol(path))["finetunes_cached"] == kept  # a rerun's start


# ----------------------------------------------------------------- two runs, one store


def test_two_runs_on_one_store_compute_every_key_once(finished, tmp_path):
    counts = tmp_path / "clip-calls.log"
    overrides = dict(
        dataset=_items("blue-circle", "green-diamond"),
        grid={"v": [0.5], "K": [400], "resolution": ["64x64"], "seeds": [0, 1]},
        metrics=["psnr", "clip_t[test-counting]"],
    )
    protocols = [_protocol(tmp_path, name, **overrides) for name in "ab"]
    setup = "from tests.fakes import register_counting; register_counting()"
    env = cli_env(SINE_BENCH_TEST_CLIP_LOG=str(counts))
    args = ["--threads", "1", "--no-progress"]
    procs = [start_cli(["run", str(p), *args], setup=setup, env=env) for p in protocols]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
    cells = pd.read_csv(tmp_path / "run-a" / "cells.csv")
    assert len(cells) == 6  # 3 prompts x 2 seeds, no two sharing an edit
    assert len(counts.read_text().splitlines()) == 6  # one clip_t computation per cell
    manifests = [_manifest(tmp_path / f"run-{n}")["stages"] for n in "ab"]
    for stage in ("fine-tune", "edit", "score"):
        computed = sum(m[stage]["computed"] for m in manifests)
        assert computed == manifests[0][stage]["total"], (stage, manifests)
    pd.testing.assert_frame_equal(cells, pd.read_csv(tmp_path / "run-b" / "cells.csv"))


# ----------------------------------------------------------------- permissions


def test_store_and_run_directory_honour_the_umask(finished):
    """The finished run was made under umask 002: every entry is group-writable."""
    checked = 0
    for root in (finished / "store", finished / "run-one"):
        for entry in [root, *root.rglob("*")]:
            if entry.is_symlink():
                continue
            want = 0o775 if entry.is_dir() else 0o664
            assert entry.stat().st_mode & 0o777 == want, f"{entry}: {oct(entry.stat().st_mode)}"
            checked += 1
    assert checked > 20
