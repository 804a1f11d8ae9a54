"""Executors run a stage's jobs. The local one runs them in order in this process.

The seam for a distributed executor (Ray): ``map`` receives picklable jobs and a
function; a Ray executor would ship the jobs to workers that each build their own
``Stages`` (so each loads the model once) and rely on the store's per-key locks,
which already make concurrent workers safe on a shared filesystem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

J = TypeVar("J")
R = TypeVar("R")


class Executor(Protocol):
    def map(self, stage: str, jobs: Sequence[J], fn: Callable[[J], R]) -> list[R]: ...


class LocalExecutor:
    """Sequential, in-process, with a rich progress bar per stage."""

    def __init__(self, progress: bool = True):
        self.progress = progress

    def map(self, stage: str, jobs: Sequence[J], fn: Callable[[J], R]) -> list[R]:
        if not self.progress or not jobs:
            return [fn(job) for job in jobs]
        columns = (
            TextColumn(f"{stage:10s}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        results = []
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task(stage, total=len(jobs))
            for job in jobs:
                results.append(fn(job))
                bar.advance(task)
        return results


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor}


def make_executor(name: str = "local", **kwargs) -> Executor:
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](**kwargs)
