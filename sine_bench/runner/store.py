"""The artifact store: one folder per stage, one entry per key, atomic and locked.

An entry is done when its final path exists; everything is written to a temporary
name in the same folder and renamed into place, so a killed run leaves no half
entries. ``lock(key)`` (fcntl.flock on a per-key file) makes two runs that share a
store compute a key once: the second waits, then finds it done. Entries get the
modes the umask gives (a group can share a store), and a write that fails for want
of space or permission is one ``EnvironmentFailure`` naming the entry, which leaves
nothing behind: the key is simply not done yet.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import EnvironmentFailure, environment_message
from ..fileio import apply_umask_modes, make_temp_dir, write_atomic

__all__ = ["Store", "StoreWriteError", "write_atomic"]


class StoreWriteError(EnvironmentFailure):
    """A store entry could not be written (no space, read-only, no permission)."""


@contextmanager
def _naming_failed_writes(entry: Path) -> Iterator[None]:
    """Re-raise a write that failed for an environment reason as one line naming the entry."""
    try:
        yield
    except Exception as err:
        message = environment_message(err, where=f"store entry {entry}")
        if message is None:
            raise
        raise StoreWriteError(message) from err


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, stage: str, key: str, suffix: str = "") -> Path:
        return self.root / stage / key[:2] / f"{key}{suffix}"

    def done(self, stage: str, key: str, suffix: str = "") -> bool:
        return self.path(stage, key, suffix).exists()

    @contextmanager
    def lock(self, stage: str, key: str) -> Iterator[None]:
        """Exclusive per-key lock, released when the block ends (or the process dies)."""
        lock_path = self.root / "locks" / stage / f"{key}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def sweep(self, stage: str) -> int:
        """Remove temp folders that a killed writer left in ``stage``; a folder whose key
        is locked (a live writer) is kept. Returns how many were removed."""
        removed = 0
        for tmp in sorted((self.root / stage).glob("*/.*")):
            key = tmp.name[1:].split(".", 1)[0]
            lock_path = self.root / "locks" / stage / f"{key}.lock"
            if not tmp.is_dir() or not lock_path.exists():
                continue
            with open(lock_path, "a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    shutil.rmtree(tmp, ignore_errors=True)
                    removed += 1
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        return removed

    @contextmanager
    def write_dir(self, stage: str, key: str) -> Iterator[Path]:
        """A temp folder to fill; renamed to the entry's final path when the block exits."""
        final = self.path(stage, key)
        with _naming_failed_writes(final):
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = make_temp_dir(final.parent, prefix=f".{key}.")
            try:
                yield tmp
                apply_umask_modes(tmp)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    def write_json(self, stage: str, key: str, data: Any) -> None:
        path = self.path(stage, key, ".json")
        with _naming_failed_writes(path):
            write_atomic(path, json.dumps(data, indent=1, sort_keys=True))

    def read_json(self, stage: str, key: str) -> Any:
        return json.loads(self.path(stage, key, ".json").read_text())
