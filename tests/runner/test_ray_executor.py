"""The Ray executor on a local two-CPU cluster started here: job order, fine-tune
affinity, failure reports, dead workers retried, and whole runs under Ray (one with a
worker killed mid-edit) giving the local executor's cells tables."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.runner.executors import EXECUTORS, ClusterError, JobsFailed
from tests.helpers import ROOT, help_in_fresh_interpreter, write_protocol

# Ray's tests run in a pytest of their own (README's test command: -m ray), never beside
# other test processes: under pytest-xdist a busy second worker made Ray's actor calls time
# out on a 2-core machine (a worker never started, a live one reported dead)
pytestmark = pytest.mark.ray


def _import_ray():
    """In CI ray must be there (README installs .[test,ray]); elsewhere skip without it."""
    if os.environ.get("CI"):
        import ray

        return ray
    return pytest.importorskip("ray", reason="ray is not installed: pip install 'sine-bench[ray]'")


@pytest.fixture(scope="module")
def ray_cluster():
    ray = _import_ray()
    ray.init(
        address="local",  # never another run's cluster
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ex(ray_cluster):
    """Two workers for the whole module (starting one costs seconds); tests set retries."""
    from sine_bench.runner.ray_executor import RayExecutor

    with RayExecutor(workers=2, progress=False, log=None) as executor:
        yield executor


@pytest.fixture
def retries(ex):
    def set_retries(n: int):
        ex.retries = n
        return ex

    yield set_retries
    ex.retries = 1


# ----------------------------------------------------------------- plain functions


def test_results_in_job_order_and_groups_stay_on_a_worker(ex):
    def work(job):
        time.sleep(0.02)
        return job.finetune, job.n * job.n, os.getpid()

    jobs = [SimpleNamespace(key=f"j{n}", finetune=f"ft{n % 3}", n=n) for n in range(12)]
    results = ex.map("edit", jobs, work)
    assert [r[1] for r in results] == [n * n for n in range(12)]
    assert len(set(ex.worker_pids())) == 2
    pairs = {(ft, pid) for ft, _, pid in results}
    # three fine-tunes on two workers: each worker loads each fine-tune at most once, and
    # only the last group may be shared (an idle worker helps with it)
    assert len(pairs) <= 4


def test_scores_are_batched_and_other_stages_are_not(ex, monkeypatch):
    # automatic: about four batches per worker
    assert len(ex._batches("score", list(range(100)), capacity=2)[None]) == 8
    monkeypatch.setitem(ex.batch, "score", 5)
    batches = ex._batches("score", list(range(12)), capacity=2)
    assert [b.indices for b in batches[None]] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert all(len(b.indices) == 1 for b in ex._batches("edit", list(range(4)), 2)[None])
    results = ex.map("score", list(range(12)), lambda n: (n, os.getpid()))
    assert [n for n, _ in results] == list(range(12))


def _dies_once(marker: str, doomed: int):
    def work(n):
        if n == doomed and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker process dies mid-job
        return n

    return work


def test_dead_worker_is_reported_and_a_rerun_completes(retries, tmp_path):
    work = _dies_once(str(tmp_path / "died"), doomed=3)
    ex = retries(0)
    with pytest.raises(JobsFailed) as failed:
        ex.map("edit", list(range(8)), work)
    assert [key for key, _ in failed.value.failures] == ["3"]
    assert "worker died" in failed.value.failures[0][1]
    assert "1 of 8 edit jobs failed (3;" in str(failed.value)
    assert "rerun" in str(failed.value)
    assert ex.map("edit", list(range(8)), work) == list(range(8))


def test_dead_worker_job_is_retried_on_a_new_worker(retries, tmp_path):
    work = _dies_once(str(tmp_path / "died"), doomed=5)
    ex = retries(1)
    ex.retried.clear()
    assert ex.map("edit", list(range(8)), work) == list(range(8))
    assert [(stage, key) for stage, key, _ in ex.retried] == [("edit", "5")]


def _unschedulable_worker(gpus: float):
    """A replacement asking for more CPUs than the 2-CPU test cluster has: it never starts."""
    from sine_bench.runner.ray_executor import StageWorker

    return StageWorker.options(num_cpus=64, max_restarts=0).remote(1)


def test_unschedulable_replacement_is_dropped_and_the_run_goes_on(retries, tmp_path, monkeypatch):
    work = _dies_once(str(tmp_path / "died"), doomed=5)
    ex = retries(1)
    monkeypatch.setattr(ex, "schedule_timeout", 2.0)
    ex._ensure_slots(2, 0.0)  # both workers exist before the death
    monkeypatch.setattr(ex, "_new_handle", _unschedulable_worker)
    assert ex.map("edit", list(range(8)), work) == list(range(8))
    assert len(ex._slots) == 1  # the dead worker's slot was given up, not waited on


def test_no_worker_left_is_a_clear_error(retries, tmp_path, monkeypatch):
    marker_dir = tmp_path / "first-job"
    marker_dir.mkdir()

    def every_worker_dies_on_its_first_job(n):
        marker = marker_dir / str(os.getpid())
        if not marker.exists():
            marker.touch()
            time.sleep(0.5)  # both workers hold a job when they die
            os._exit(1)
        return n

    ex = retries(1)
    monkeypatch.setattr(ex, "schedule_timeout", 2.0)
    ex._ensure_slots(2, 0.0)
    monkeypatch.setattr(ex, "_new_handle", _unschedulable_worker)
    with pytest.raises(ClusterError, match="no worker is left.*did not start within 2 s"):
        ex.map("edit", list(range(4)), every_worker_dies_on_its_first_job)
    assert ex._slots == []


class _DiesAtStart:
    def info(self):
        os._exit(1)  # the process is gone before it ever reports


def test_a_replacement_that_dies_while_starting_is_not_used(ray_cluster, retries, tmp_path):
    """A replacement can die as it starts (placed on a node being lost); it is not taken
    for a worker: another is started, and the retried job runs."""
    work = _dies_once(str(tmp_path / "died"), doomed=5)
    ex = retries(1)
    real = ex._new_handle
    made: list[str] = []

    def first_replacement_dies(gpus: float):
        made.append("dies" if not made else "works")
        if made[-1] == "dies":
            return ray_cluster.remote(num_cpus=1, max_restarts=0)(_DiesAtStart).remote()
        return real(gpus)

    ex._ensure_slots(2, 0.0)
    ex.retried.clear()
    original = ex._new_handle
    ex._new_handle = first_replacement_dies
    try:
        assert ex.map("edit", list(range(8)), work) == list(range(8))
    finally:
        ex._new_handle = original
    assert made == ["dies", "works"] and len(ex._slots) == 2
    assert [(stage, key) for stage, key, _ in ex.retried] == [("edit", "5")]


def test_a_batch_waiting_on_a_worker_that_never_starts_runs_elsewhere(ray_cluster, ex, monkeypatch):
    """Until Ray marks a lost node dead, the cluster's resources still count it: a stage
    starting then asks for a worker that can never be placed. Its batch is taken back
    when the started worker is idle (it once waited there forever), and the stage ends."""
    ex._ensure_slots(2, 0.0)
    lost = ex._slots.pop()  # a worker gone with its node
    ray_cluster.kill(lost.handle, no_restart=True)
    monkeypatch.setattr(ex, "_capacity", lambda gpus: 2)  # the stale view: room for two
    monkeypatch.setattr(ex, "_new_handle", _unschedulable_worker)
    try:
        results = ex.map("edit", list(range(6)), lambda n: (n, os.getpid()))
        phantom = ex._slots[-1]
        assert not phantom.started and phantom.pid is None
        assert [n for n, _ in results] == list(range(6))
        assert {pid for _, pid in results} == set(ex.worker_pids())  # the started one
    finally:
        for slot in [s for s in ex._slots if not s.started]:
            ray_cluster.kill(slot.handle, no_restart=True)
            ex._slots.remove(slot)


def test_job_exception_fails_only_that_job(ex):
    def work(n):
        if n == 2:
            raise ValueError("two is bad")
        return n

    with pytest.raises(JobsFailed) as failed:
        ex.map("score", list(range(6)), work)
    (key, reason), *rest = failed.value.failures
    assert key == "2" and not rest and reason.startswith("ValueError: two is bad")


# ----------------------------------------------------------------- the protocol


def _elsewhere(protocol: Path, tmp_path: Path, **changes) -> Path:
    """``protocol`` with its output and store in ``tmp_path`` and ``changes`` (methods
    keep their order)."""
    import yaml

    data = yaml.safe_load(protocol.read_text()) | changes
    data |= {"output": str(tmp_path / "run"), "store": str(tmp_path / "store")}
    path = tmp_path / "elsewhere.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cells_without_timing(run_dir: Path) -> pd.DataFrame:
    cells = pd.read_csv(run_dir / "cells.csv")
    return cells.drop(columns=[c for c in cells.columns if c.endswith("_seconds")])


def _planned_costs(run_dir: Path) -> dict:
    """The manifest's UNet evaluations but what this run computed (that depends on what
    its store held: another test may have rerun the local run from its store)."""
    costs = json.loads((run_dir / "manifest.json").read_text())["unet_evaluations"]
    costs.pop("computed_this_run")
    return costs


def test_a_run_on_ray_matches_local_with_a_worker_killed(retries, small_run, tmp_path):
    """Two workers run the small session protocol (two seeds, every metric family but
    the test's fake backbones, which only this process registers); one is SIGKILLed
    while it holds an edit job; the job is retried on a fresh worker, and the cells
    table equals the local executor's on every column the Ray run has."""
    import yaml

    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.run import plan_summary, run_protocol
    from tests.fakes import FAKE_METRICS

    local_protocol, local, _ = small_run
    metrics = yaml.safe_load(local_protocol.read_text())["metrics"]
    real = [m for m in metrics if m not in FAKE_METRICS]
    assert len(real) >= 7 and len(real) < len(metrics)
    protocol = _elsewhere(local_protocol, tmp_path, metrics=real)
    edits = tmp_path / "store" / "edits"
    killed: list[int] = []
    stop = threading.Event()

    def kill_a_busy_worker_mid_edit(ex) -> None:
        while not stop.is_set():
            stored = edits.exists() and [p for p in edits.glob("*/*") if p.name[0] != "."]
            busy = [s.pid for s in ex._slots if s.busy and s.pid is not None]
            if stored and busy:
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.01)

    ex = retries(1)
    ex.retried.clear()
    killer = threading.Thread(target=kill_a_busy_worker_mid_edit, args=(ex,), daemon=True)
    killer.start()
    try:
        out = run_protocol(protocol, executor=ex, progress=False, threads=1, log=print)
    finally:
        stop.set()
        killer.join()
    retried = list(ex.retried)
    assert killed, "no worker was killed"
    # the killed worker's edit job was retried (on a machine this busy, a worker may
    # also be unreachable for a while and its job retried: the tables must still agree)
    assert any(stage == "edit" for stage, _, _ in retried), retried
    assert all(why.startswith("worker died") for _, _, why in retried), retried
    ray_cells = _cells_without_timing(out)
    local_cells = _cells_without_timing(local)
    assert set(local_cells.columns) - set(ray_cells.columns) == set(FAKE_METRICS)
    pd.testing.assert_frame_equal(ray_cells, local_cells[ray_cells.columns])  # costs too
    manifest = json.loads((out / "manifest.json").read_text())
    local_manifest = json.loads((local / "manifest.json").read_text())
    assert manifest["metric_backbones"] == {m: local_manifest["metric_backbones"][m] for m in real}

    summary = plan_summary(load_protocol(protocol))  # a local run would find it all done
    assert summary["finetunes_cached"] == summary["finetunes"]
    assert summary["edits_cached"] == summary["edits"]


def test_every_method_on_ray_matches_local(ex, methods_run, tmp_path):
    """Trainings of every kind and every method's edit units run on Ray workers (which
    rebuild the plan) and give the local executor's cells table."""
    from sine_bench.runner.run import run_protocol

    path, local = methods_run
    protocol = _elsewhere(path, tmp_path)
    out = run_protocol(protocol, executor=ex, progress=False, threads=1, log=lambda *_: None)
    pd.testing.assert_frame_equal(_cells_without_timing(out), _cells_without_timing(local))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["fine-tune"]["computed"] > 0
    assert _planned_costs(out) == _planned_costs(local)
    # an empty store: every unit computed
    assert (
        manifest["unet_evaluations"]["computed_this_run"]
        == _planned_costs(out)["grid_with_sharing"]
    )


# ----------------------------------------------------------------- command line


def test_help_imports_neither_torch_nor_ray():
    exit_code, output, heavy = help_in_fresh_interpreter(["run", "--help"], ("torch", "ray"))
    assert exit_code == 0 and "--executor" in output, output
    assert not heavy, heavy


def test_ray_executor_without_ray_is_a_one_line_error(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['ray'] = None  # as if ray were not installed\n"
        "from typer.testing import CliRunner\n"
        "from sine_bench.cli import app\n"
        f"r = CliRunner().invoke(app, ['run', {str(tmp_path / 'p.yaml')!r}, '--executor', 'ray'])\n"
        "print(r.exit_code, r.output)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("2 error: ray is not installed: pip install 'sine-bench[ray]'")


def test_address_needs_the_ray_executor(tmp_path):
    result = CliRunner().invoke(app, ["run", str(tmp_path / "p.yaml"), "--address", "auto"])
    assert result.exit_code == 2 and "need --executor ray" in result.output


def test_failed_jobs_exit_1_with_their_keys(tmp_path):
    class Failing:
        def map(self, stage, jobs, fn):
            raise JobsFailed(stage, len(jobs), [(job.key[:12], "worker died") for job in jobs])

    path = write_protocol(tmp_path)
    with EXECUTORS.registered("failing", lambda **_: Failing()):
        result = CliRunner().invoke(app, ["run", str(path), "--executor", "failing"])
    assert result.exit_code == 1, result.output
    assert "2 of 2 fine-tune jobs failed" in result.output and "rerun" in result.output
    assert result.output.count("failed: worker died") == 2
