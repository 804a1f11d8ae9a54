"""The Ray executor's progress in the driver: one bar per stage, advanced as workers'
results arrive, and a way to say a line (a retry, a worker given up) beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stage_bar(
    stage: str, total: int, progress: bool, log: Callable[[str], Any] | None
) -> Iterator[tuple[Callable, Callable]]:
    """Yields (advance(n, failed=0), say(message)); without ``progress`` there is no bar
    and ``say`` is ``log`` (or nothing)."""
    if not progress:
        yield (lambda n, failed=0: None), (log or (lambda message: None))
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    failures = 0
    with Progress(*columns, TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task(f"{stage:10s}", total=total)

        def advance(n: int, failed: int = 0) -> None:
            nonlocal failures
            failures += failed
            label = f"{stage:10s}" + (f" ({failures} failed)" if failures else "")
            bar.update(task, advance=n, description=label)

        yield advance, bar.console.print
