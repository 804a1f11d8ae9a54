"""Executors run a stage's jobs. The local one runs them in order in this process.

The seam for a distributed executor: ``map`` receives picklable jobs and a function,
for a stage a ``context.StageCall`` (the stage's name and the run's context). The Ray
executor (``ray_executor.py``, imported only when asked for, so the CLI never imports
ray) ships the stage's name and the run (``WorkerRun``: plan, store root) to workers
that each build their own context once (so each loads the model once) and relies on
the store's per-key locks, which make concurrent workers safe on a shared filesystem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import EnvironmentFailure, InputError, JobFailure
from ..registry import Registry

J = TypeVar("J")
R = TypeVar("R")


class Executor(Protocol):
    def map(self, stage: str, jobs: Sequence[J], fn: Callable[[J], R]) -> list[R]: ...


class LocalExecutor:
    """Sequential, in-process, with a rich progress bar per stage."""

    def __init__(self, progress: bool = True):
        self.progress = progress

    def map(self, stage: str, jobs: Sequence[J], fn: Callable[[J], R]) -> list[R]:
        """Results in job order; a job that fails on its own (``JobFailure``) does not
        stop the others: ``JobsFailed`` names them all once the stage ran."""
        results: list = []
        failures: list[tuple[str, str]] = []

        def one(job: J) -> None:
            try:
                results.append(fn(job))
            except JobFailure as err:
                name = getattr(job, "key", None) or getattr(job, "edit", None) or len(results)
                failures.append((str(name)[:12], str(err)))
                results.append(None)

        if not self.progress or not jobs:
            for job in jobs:
                one(job)
        else:
            columns = (
                TextColumn(f"{stage:10s}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, transient=False) as bar:
                task = bar.add_task(stage, total=len(jobs))
                for job in jobs:
                    one(job)
                    bar.advance(task)
        if failures:
            raise JobsFailed(stage, len(jobs), failures)
        return results


class ExecutorError(InputError):
    """An executor cannot be used as asked (unknown, or ray not installed): exit 2."""


class ClusterError(EnvironmentFailure):
    """The cluster failed: cannot be joined, has no room, lost every worker: exit 1."""


class JobsFailed(EnvironmentFailure):
    """Some jobs of a stage failed while the others finished (and are in the store).

    Raised after the whole stage ran, so a rerun only has the failed jobs left to do.
    """

    def __init__(self, stage: str, total: int, failures: list[tuple[str, str]]):
        self.stage, self.total, self.failures = stage, total, failures
        names = ", ".join(key for key, _ in failures[:3])
        more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
        super().__init__(
            f"{len(failures)} of {total} {stage} jobs failed ({names}{more}; first: "
            f"{failures[0][1]}); finished work is in the store: rerun to complete the rest"
        )

    def details(self) -> list[str]:
        """One line per failed job: its key and why it failed."""
        return [f"{self.stage} job {key} failed: {reason}" for key, reason in self.failures]


# optional backends are "module:attr" entries: their module (and ray) loads only here
EXECUTORS: Registry[Callable[..., Executor]] = Registry(
    "executor",
    ExecutorError,
    {"local": LocalExecutor, "ray": "sine_bench.runner.ray_executor:RayExecutor"},
)


def make_executor(name: str = "local", **kwargs) -> Executor:
    """The executor registered as ``name``; ExecutorError when unknown or not installed."""
    try:
        factory = EXECUTORS.get(name)
    except ImportError as err:
        backend = (err.name or "").split(".")[0]
        if backend in ("", "sine_bench"):
            raise  # a bug of ours, not a missing extra
        raise ExecutorError(
            f"{backend} is not installed: pip install 'sine-bench[{name}]'"
        ) from None
    return factory(**kwargs)
