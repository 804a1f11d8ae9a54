"""``sine-bench store verify`` and ``store gc``: a whole store checked, and cleaned.

verify hashes every entry (no per-process cache: a fresh look) and reports what it
found; with ``repair`` it quarantines the damaged entries (the next run computes them
again) and records the digest of entries written before digests existed. gc removes
temp leftovers of killed writes, quarantined entries, and entries no registered run
directory lists (``store_entries.py``); it changes nothing unless asked (``yes``) and
refuses while a run uses the store (``Store.using``).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EnvironmentFailure
from ..protocol.fields import ProtocolError
from . import integrity
from .store import Store, remove_path
from .store_entries import references, run_dir_leftovers


def open_store(root: Path) -> Store:
    """The store at ``root``; a folder that holds none of a store's folders is refused
    (so a mistyped path is never cleaned)."""
    known = (*integrity.STAGES, "locks", "runs", "quarantine")
    if not root.is_dir() or not any((root / name).is_dir() for name in known):
        raise ProtocolError(
            f"{root}: not a sine-bench store (no {', '.join(integrity.STAGES)} folders; "
            "give the folder a protocol's 'store' names)"
        )
    return Store(root, report=lambda _line: None)


def entries(store: Store, stage: str) -> Iterator[tuple[str, Path]]:
    """(key, path) of every entry of ``stage`` (temp names excluded)."""
    suffix = integrity.FILE_STAGES.get(stage, "")
    for path in sorted((store.root / stage).glob("*/*")):
        if not path.name.startswith(".") and path.name.endswith(suffix):
            yield path.name[: len(path.name) - len(suffix)], path


@dataclass
class VerifyReport:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> state -> n
    damaged: list[tuple[Path, str]] = field(default_factory=list)
    leftovers: int = 0
    quarantined: int = 0


def verify_store(root: Path, repair: bool = False) -> VerifyReport:
    """Check every entry of the store at ``root`` (see the module docstring)."""
    store = open_store(root)
    report = VerifyReport()
    for stage in integrity.STAGES:
        counts = report.counts.setdefault(stage, {"ok": 0, "legacy": 0, "damaged": 0})
        suffix = integrity.FILE_STAGES.get(stage, "")
        for key, path in entries(store, stage):
            verdict = integrity.check(path, stage, key, cached=False)
            if verdict.state == "missing":  # removed while this looked
                continue
            counts[verdict.state] += 1
            if verdict.state == "damaged":
                report.damaged.append((path, verdict.problem))
            if repair and verdict.state != "ok":
                store.checked(stage, key, suffix)  # quarantines or records the digest
        report.leftovers += len(store.leftovers(stage))
    report.quarantined = sum(1 for _ in (root / "quarantine").glob("*/*"))
    return report


@dataclass
class GcReport:
    leftovers: list[Path] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    unreferenced: list[Path] = field(default_factory=list)
    kept_because: str = ""  # why unreferenced entries were not collected, if so
    runs: int = 0
    bytes: int = 0
    removed: bool = False


@contextmanager
def _no_run_using(store: Store) -> Iterator[None]:
    path = store.root / "locks" / "store.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EnvironmentFailure(
                f"store {store.root}: a run is using it (gc removes nothing while one "
                "does: rerun gc when it has finished)"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gc_store(root: Path, yes: bool = False) -> GcReport:
    """What gc removes from the store at ``root`` (removed only with ``yes``)."""
    store = open_store(root)
    report = GcReport()
    with _no_run_using(store):
        refs = references(root)
        report.runs = len(refs.runs)
        for stage in integrity.STAGES:
            report.leftovers += store.leftovers(stage)
        for out in refs.runs + refs.gone:  # gone: perhaps a first write that was killed
            report.leftovers += run_dir_leftovers(out)
        report.quarantined = sorted((root / "quarantine").glob("*/*"))
        if refs.unlisted:
            report.kept_because = (
                f"run directory {refs.unlisted[0]} does not list its store entries (written "
                "before sine-bench recorded them: rerun its protocol, or remove it)"
            )
        elif not refs.runs and not refs.gone:
            report.kept_because = "no run directory has registered with this store yet"
        else:
            for stage in integrity.STAGES:
                keep = refs.keys[stage]
                report.unreferenced += [p for k, p in entries(store, stage) if k not in keep]
        doomed = report.leftovers + report.quarantined + report.unreferenced
        report.bytes = sum(_size(p) for p in doomed)
        if yes:
            for path in doomed:
                remove_path(path)
            for record in _registrations_of(root, refs.gone):
                record.unlink(missing_ok=True)
            report.removed = True
    return report


def _registrations_of(root: Path, gone: list[Path]) -> list[Path]:
    from .keys import digest

    return [root / "runs" / f"{digest(str(out))}.json" for out in gone]


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(os.lstat(os.path.join(d, n)).st_size for d, _, ns in os.walk(path) for n in ns)
