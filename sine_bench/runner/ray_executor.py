"""Run a stage's jobs on a Ray cluster: long-lived workers, each with its own run context.

What goes over the wire is small: the plan once per worker (a Ray object, fetched on
the worker's first job), then picklable jobs and their picklable results. Weights
never do: each worker loads the model, fine-tunes and backbones itself, from the
store on a filesystem that every node mounts at the same path. The store's atomic
renames and per-key locks make workers, local runs and Ray runs safe together, so
either kind of run resumes the other's work.

A worker that dies loses only the job it was running: the job is retried on a fresh
worker (``retries`` times) and otherwise reported in ``JobsFailed`` once the rest of
the stage has finished. A worker that the cluster cannot start within
``schedule_timeout`` seconds (its node is gone and nothing else has room) is given up:
the run goes on with the workers it has, and stops with a ``ClusterError`` when none
is left, instead of waiting forever. That holds for every worker, not only a
replacement: the cluster's resources still count a lost node until Ray marks it dead
(its health checks take seconds), so a stage that starts meanwhile may ask for a worker
that can never be placed. A batch waiting on a worker that has not started yet is taken
back as soon as a started worker is idle with nothing else to do, so a lost node never
holds a job hostage. An exception raised by a job is reported the same way (it is not
retried: it would fail again).

Only ``make_executor("ray")`` imports this module, so ray stays an optional extra.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import ray
from ray.exceptions import RayError, RayTaskError

from ..errors import one_line
from .context import StageCall
from .executors import ClusterError, JobsFailed
from .ray_progress import stage_bar
from .ray_worker import StageWorker

J = TypeVar("J")
R = TypeVar("R")

AUTO = 0  # batch size chosen from the number of jobs and workers
FIRST_START = 300.0  # seconds the first workers of a run may take to start, at least


# --------------------------------------------------------------------------- driver side


@dataclass
class _Batch:
    group: Any
    indices: list[int]
    attempt: int = 0


@dataclass
class _Slot:
    index: int
    handle: Any
    group: Any = None
    pid: int | None = None
    busy: bool = False
    # until the worker is known to run: its info() call, and when it was asked for
    probe: Any = None
    since: float = field(default_factory=time.monotonic)
    started: bool = False


@dataclass
class _Context:
    token: str
    boxed: list
    method: str | None
    target: Any


class RayExecutor:
    """Runs ``map`` on Ray workers; see the module docstring for the contract.

    ``address``: None joins ``$RAY_ADDRESS`` or else starts a local cluster of its own;
    "auto" joins the cluster running on this node (``ray start``); "HOST:6379" a
    cluster's head; "ray://HOST:10001" goes through Ray Client.
    ``workers``: at most this many (0: as many as the cluster's CPUs/GPUs fit).
    ``num_gpus``: GPU share per worker (None: 1 when the protocol's device is cuda, or
    auto on a cluster with GPUs; else 0). ``batch``: jobs sent per call, per stage
    (AUTO = from the job count; stages not named send one job per call).
    ``schedule_timeout``: seconds a worker (a first one or the replacement of a dead
    one) may take to start before it is given up.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int = 0,
        num_cpus: float = 1.0,
        num_gpus: float | None = None,
        retries: int = 1,
        progress: bool = True,
        batch: Mapping[str, int] | None = None,
        log: Callable[[str], Any] | None = print,
        init_kwargs: Mapping[str, Any] | None = None,
        schedule_timeout: float = 300.0,
    ):
        self.address = address
        self.max_workers = workers
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.retries = retries
        self.progress = progress
        self.batch = dict({"score": AUTO} if batch is None else batch)
        self.log = log
        self.schedule_timeout = schedule_timeout
        self.retried: list[tuple[str, str, str]] = []  # (stage, job key, why)
        self._slots: list[_Slot] = []
        self._context: _Context | None = None
        self._owns_ray = False
        self._connect(dict(init_kwargs or {}))

    # ---------------------------------------------------------------- cluster
    def _connect(self, init_kwargs: dict) -> None:
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        address = self.address
        if address is None and not os.environ.get("RAY_ADDRESS"):
            # a cluster just for this run: "local" never joins another run's cluster
            address, kwargs["include_dashboard"] = "local", False
        try:
            ray.init(address=address, **(kwargs | init_kwargs))
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = self.address or os.environ.get("RAY_ADDRESS") or "a local cluster"
            raise ClusterError(
                f"cannot start or join Ray at {where}: {one_line(err, typed=True)}"
            ) from None
        self._owns_ray = True

    def close(self) -> None:
        """Stop the workers (and the local cluster if this executor started it)."""
        for slot in self._slots:
            _kill(slot.handle)
        self._slots.clear()
        self._context = None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        """Process ids of the workers that have finished a job (for diagnostics and tests;
        asks no worker, so it answers while they are busy)."""
        return [s.pid for s in self._slots if s.pid is not None]

    def _gpus(self, fn: Callable) -> float:
        if self.num_gpus is not None:
            return self.num_gpus
        device = str(fn.ctx.plan.protocol.model.device) if isinstance(fn, StageCall) else ""
        if device.startswith("cuda"):
            return 1.0
        if device == "auto" and ray.cluster_resources().get("GPU", 0) > 0:
            return 1.0
        return 0.0

    def _capacity(self, gpus: float) -> int:
        resources = ray.cluster_resources()
        fits = [math.floor(resources.get("CPU", 0) / self.num_cpus)] if self.num_cpus else []
        if gpus:
            fits.append(math.floor(resources.get("GPU", 0) / gpus))
        slots = min(fits) if fits else 1
        if slots < 1:
            raise ClusterError(
                f"the Ray cluster has no room for a worker needing {self.num_cpus} CPU and "
                f"{gpus} GPU (it has {resources.get('CPU', 0)} CPU, "
                f"{resources.get('GPU', 0)} GPU)"
            )
        return min(slots, self.max_workers) if self.max_workers > 0 else slots

    def _new_handle(self, gpus: float) -> Any:
        threads = max(1, int(self.num_cpus))
        env = {"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
        env |= {"TOKENIZERS_PARALLELISM": "false"}
        return StageWorker.options(
            num_cpus=self.num_cpus,
            num_gpus=gpus,
            max_restarts=0,
            runtime_env={"env_vars": env},
        ).remote(threads)

    def _ensure_slots(self, wanted: int, gpus: float) -> None:
        while len(self._slots) < wanted:
            handle = self._new_handle(gpus)
            self._slots.append(_Slot(len(self._slots), handle, probe=handle.info.remote()))

    def _replace(self, slot: _Slot, gpus: float) -> bool:
        """A fresh worker in ``slot``; False (and the slot dropped) if none could start
        within ``schedule_timeout``; ClusterError if that leaves no worker at all. A
        replacement that dies while starting is not one: another is tried meanwhile."""
        _kill(slot.handle)
        deadline = time.monotonic() + self.schedule_timeout
        while (left := deadline - time.monotonic()) > 0:
            handle = self._new_handle(gpus)
            info = handle.info.remote()
            started, _ = ray.wait([info], timeout=left)
            if not started:
                _kill(handle)
                break
            try:
                ray.get(info)
            except RayError:  # died as it started (placed on a node being lost): not a worker
                _kill(handle)
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
                continue
            slot.handle, slot.group, slot.pid, slot.busy = handle, None, None, False
            slot.probe, slot.started = None, True
            return True
        self._give_up(slot, gpus)
        return False

    def _give_up(self, slot: _Slot, gpus: float) -> None:
        """Drop a slot whose worker could not start; ClusterError if none is left."""
        _kill(slot.handle)
        self._slots.remove(slot)
        if not self._slots:
            resources = ray.available_resources()
            raise ClusterError(
                f"no worker is left: a worker needing {self.num_cpus} CPU and {gpus} GPU "
                f"did not start within {self.schedule_timeout:g} s (the cluster has "
                f"{resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU free); "
                "rerun when it has room, finished jobs are kept"
            )

    def _watch_starts(self, inflight: dict, pending: dict, gpus: float, say: Callable) -> None:
        """Keep workers that have not started from holding the run: one that started is
        marked so, one that died starting is given up, and a batch waiting on one is
        taken back when a started worker is idle with nothing pending (it runs there,
        and only the call it is read from counts). When no worker has started within
        ``FIRST_START`` seconds (or ``schedule_timeout`` if longer: a loaded machine
        takes a while to import torch), they are all given up (ClusterError)."""
        for slot in [s for s in self._slots if not s.started and s.probe is not None]:
            if not ray.wait([slot.probe], timeout=0)[0]:
                continue
            try:
                ray.get(slot.probe)
                slot.started, slot.probe = True, None
            except RayError:  # died as it started (placed on a node being lost)
                self._take_back(slot, inflight, pending)
                self._give_up(slot, gpus)
                say(f"a worker died while starting; going on with {len(self._slots)}")
        now = time.monotonic()
        if not any(s.started for s in self._slots):
            limit = max(self.schedule_timeout, FIRST_START)
            if all(now - s.since > limit for s in self._slots):
                for slot in list(self._slots):  # the last one raises ClusterError
                    self._take_back(slot, inflight, pending)
                    self._give_up(slot, gpus)
            return
        if pending or not any(s.started and not s.busy for s in self._slots):
            return
        for slot in [s for s in self._slots if s.busy and not s.started]:
            self._take_back(slot, inflight, pending)

    @staticmethod
    def _take_back(slot: _Slot, inflight: dict, pending: dict) -> None:
        """Requeue the batch sent to ``slot`` (first in its group; not an attempt: it
        never ran) and forget its call."""
        for ref, (owner, batch) in list(inflight.items()):
            if owner is slot:
                del inflight[ref]
                with suppress(Exception):  # already gone: nothing runs it
                    ray.cancel(ref)
                pending.setdefault(batch.group, deque()).appendleft(batch)
        slot.busy = False

    # ---------------------------------------------------------------- context
    def _context_for(self, fn: Callable) -> _Context:
        """What workers need to run ``fn``: for a ``StageCall``, its stage and the run
        (``WorkerRun``: plan and store root, shipped once per run); else ``fn`` itself."""
        stage = fn.stage if isinstance(fn, StageCall) else None
        target = fn.ctx if isinstance(fn, StageCall) else fn
        current = self._context
        if current is not None and current.target is target:
            current.method = stage
            return current
        token = uuid.uuid4().hex
        shipped = fn.worker_run() if isinstance(fn, StageCall) else fn
        self._context = _Context(token, [ray.put(shipped)], stage, target)
        return self._context

    # ---------------------------------------------------------------- map
    def map(self, stage: str, jobs: Sequence[J], fn: Callable[[J], R]) -> list[R]:
        """Results in job order; raises ``JobsFailed`` after the stage if any job failed."""
        jobs = list(jobs)
        if not jobs:
            return []
        context = self._context_for(fn)
        gpus = self._gpus(fn)
        capacity = self._capacity(gpus)
        pending = self._batches(stage, jobs, capacity)
        self._ensure_slots(min(capacity, sum(len(q) for q in pending.values())), gpus)
        results: list[Any] = [None] * len(jobs)
        failures: list[tuple[str, str]] = []
        inflight: dict[Any, tuple[_Slot, _Batch]] = {}
        with stage_bar(stage, len(jobs), self.progress, self.log) as (advance, say):
            while pending or inflight:
                for slot in sorted(self._slots, key=lambda s: not s.started):  # started first
                    if slot.busy or not pending:
                        continue
                    batch = self._pick(slot, pending)
                    ref = slot.handle.run.remote(
                        context.token,
                        context.boxed,
                        context.method,
                        [jobs[i] for i in batch.indices],
                    )
                    slot.busy = True
                    inflight[ref] = (slot, batch)
                # a worker still starting may never start: look again every second
                poll = None if all(s.started for s in self._slots) else 1.0
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=poll)
                for ref in ready:
                    slot, batch = inflight.pop(ref)
                    slot.busy = False
                    keys = [_key(jobs[i]) for i in batch.indices]
                    try:
                        reply = ray.get(ref)
                    except RayTaskError as err:  # the worker could not set up (not a job)
                        reason = one_line(err.cause or err, typed=True)
                        failures += [(k, reason) for k in keys]
                        advance(len(keys), failed=len(keys))
                        continue
                    except RayError as err:  # the worker died or became unreachable
                        if not self._replace(slot, gpus):
                            say(
                                f"{stage}: no replacement worker started within "
                                f"{self.schedule_timeout:g} s; going on with "
                                f"{len(self._slots)} worker(s)"
                            )
                        why = f"worker died ({type(err).__name__})"
                        if batch.attempt < self.retries:
                            batch.attempt += 1
                            pending.setdefault(batch.group, deque()).appendleft(batch)
                            self.retried += [(stage, k, why) for k in keys]
                            say(f"{stage}: {why} running {', '.join(keys)}; retrying")
                        else:
                            failures += [(k, why) for k in keys]
                            advance(len(keys), failed=len(keys))
                        continue
                    slot.pid, slot.started, slot.probe = reply["pid"], True, None
                    bad = 0
                    for i, key, (status, value) in zip(
                        batch.indices, keys, reply["outcomes"], strict=True
                    ):
                        if status == "ok":
                            results[i] = value
                        else:
                            failures.append((key, value))
                            bad += 1
                    advance(len(keys), failed=bad)
                self._watch_starts(inflight, pending, gpus, say)
        if failures:
            raise JobsFailed(stage, len(jobs), failures)
        return results

    def _batches(self, stage: str, jobs: list, capacity: int) -> dict[Any, deque[_Batch]]:
        """Jobs grouped by fine-tune (``job.finetune``) in first-seen order, each group cut
        into batches; a worker stays on one group so it loads each fine-tune once."""
        size = self.batch.get(stage, 1)
        if size == AUTO:  # about four batches per worker, at most 16 jobs each
            size = max(1, min(16, math.ceil(len(jobs) / (4 * capacity))))
        groups: dict[Any, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(getattr(job, "finetune", None), []).append(i)
        return {
            g: deque(_Batch(g, ids[s : s + size]) for s in range(0, len(ids), size))
            for g, ids in groups.items()
        }

    def _pick(self, slot: _Slot, pending: dict[Any, deque[_Batch]]) -> _Batch:
        """The slot's own group first, then a group nobody works on, then help the group
        with the most batches left."""
        if slot.group not in pending:
            taken = {s.group for s in self._slots if s.busy}
            fresh = [g for g in pending if g not in taken]
            slot.group = fresh[0] if fresh else max(pending, key=lambda g: len(pending[g]))
        queue = pending[slot.group]
        batch = queue.popleft()
        if not queue:
            del pending[slot.group]
        return batch


def _key(job: Any) -> str:
    key = getattr(job, "key", None)
    return str(key)[:12] if key is not None else repr(job)[:40]


def _kill(handle: Any) -> None:
    with suppress(Exception):  # already dead or the cluster is gone: nothing to stop
        ray.kill(handle, no_restart=True)
