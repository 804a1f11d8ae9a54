"""The artifact store: one folder per stage, one entry per key, atomic and locked.

An entry is done when its final path exists; everything is written to a temporary
name in the same folder and renamed into place, so a killed run leaves no half
entries. ``lock(key)`` (fcntl.flock on a per-key file) makes two runs that share a
store compute a key once: the second waits, then finds it done.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
        try:
            yield tmp
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def write_json(self, stage: str, key: str, data: Any) -> None:
        write_atomic(self.path(stage, key, ".json"), json.dumps(data, indent=1, sort_keys=True))

    def read_json(self, stage: str, key: str) -> Any:
        return json.loads(self.path(stage, key, ".json").read_text())


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write via a temp file in the same folder + rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
