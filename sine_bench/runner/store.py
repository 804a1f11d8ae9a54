"""The artifact store: one folder per stage, one entry per key, atomic, locked, verified.

An entry exists when its final path exists; everything is written to a temporary
name in the same folder and renamed into place, so a killed run leaves no half
entries. Every entry records a digest of its bytes when written (``integrity.py``),
and ``check`` verifies it before a stage trusts it: a damaged entry is moved aside
into ``quarantine/`` (never deleted), reported in one line, and the caller computes it
again. ``lock(key)`` (fcntl.flock on a per-key file) makes two runs that share a
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
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import EnvironmentFailure, environment_message
from ..fileio import apply_umask_modes, make_temp_dir, write_atomic
from . import integrity

__all__ = ["Store", "StoreDamaged", "StoreWriteError", "write_atomic"]

TEMP_GRACE_SECONDS = 600  # an unlocked temp file younger than this may be a live write


class StoreWriteError(EnvironmentFailure):
    """A store entry could not be written (no space, read-only, no permission)."""


class StoreDamaged(EnvironmentFailure):
    """A store entry is damaged and could not be set aside or computed again (exit 1:
    the machine's bytes, not the user's input)."""


def _to_stderr(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)


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
    def __init__(self, root: str | Path, report: Callable[[str], None] = _to_stderr):
        self.root = Path(root)
        self.report = report  # gets one line per damaged entry set aside
        self.repairs: list[str] = []  # those lines, for the run's manifest

    def path(self, stage: str, key: str, suffix: str = "") -> Path:
        return self.root / stage / key[:2] / f"{key}{suffix}"

    def done(self, stage: str, key: str, suffix: str = "") -> bool:
        """The entry exists (unchecked: ``check`` verifies it)."""
        return self.path(stage, key, suffix).exists()

    def sound(self, stage: str, key: str, suffix: str = "") -> bool:
        """The entry exists and its digest checks (``check`` without its repairs: nothing
        is moved or written), for what reports the store's state, such as ``plan``."""
        verdict = integrity.check(self.path(stage, key, suffix), stage, key)
        return verdict.state in ("ok", "legacy")

    def check(self, stage: str, key: str, suffix: str = "") -> bool:
        """The entry exists and its bytes are the ones written (digest, cached per
        process); a legacy entry without a digest gets one now. A damaged entry is
        quarantined and reported, and False returned: the caller computes it again."""
        return self.checked(stage, key, suffix).state in ("ok", "legacy")

    def checked(self, stage: str, key: str, suffix: str = "") -> integrity.Verdict:
        """``check``'s verdict (a score's parsed record rides along)."""
        path = self.path(stage, key, suffix)
        verdict = integrity.check(path, stage, key)
        if verdict.state == "damaged":
            with self.lock(f"verify-{stage}", key):  # one of two runs sets it aside
                verdict = integrity.check(path, stage, key)
                if verdict.state == "damaged":
                    self.quarantine(stage, key, suffix, verdict.problem)
                    return integrity.Verdict("missing")
        if verdict.state == "legacy":
            self._record_legacy_digest(stage, key, suffix, verdict)
        return verdict

    def _record_legacy_digest(
        self, stage: str, key: str, suffix: str, verdict: integrity.Verdict
    ) -> None:
        """Digest an entry written before digests existed (its checks passed just now);
        a store this user cannot write keeps it as it is, checked again next time."""
        path = self.path(stage, key, suffix)
        try:
            if stage in integrity.FILE_STAGES:
                record = integrity.with_digest(verdict.record, key)
                write_atomic(path, json.dumps(record, indent=1, sort_keys=True))
            else:
                integrity.write_folder_digest(path, stage, key)
        except OSError:
            return
        integrity.forget(path)

    def quarantine(self, stage: str, key: str, suffix: str, problem: str) -> Path:
        """Move a damaged entry into ``quarantine/<stage>/`` (kept for inspection; ``store
        gc --yes`` removes it) and say so in one line."""
        path = self.path(stage, key, suffix)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.root / "quarantine" / stage / f"{key}{suffix}.{stamp}-{os.getpid()}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except OSError as err:
            raise StoreDamaged(
                f"store entry {path}: damaged ({problem}) and cannot be moved aside "
                f"({err.strerror or err}; move or delete it, then rerun)"
            ) from None
        integrity.forget(path)
        line = f"store entry {path}: damaged ({problem}); moved to {target}, computing it again"
        self.repairs.append(line)
        self.report(line)
        return target

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
        """Remove temp entries that a killed writer left in ``stage``: a temp folder whose
        key is locked (a live writer) is kept, and so is an unlocked temp file or folder
        younger than ``TEMP_GRACE_SECONDS`` (a score being written). Returns how many."""
        return sum(self._remove_leftover(stage, tmp) for tmp in self.leftovers(stage))

    def leftovers(self, stage: str) -> list[Path]:
        """Temp entries (names starting with '.') under ``stage``'s key folders."""
        return sorted((self.root / stage).glob("*/.*"))

    def _remove_leftover(self, stage: str, tmp: Path) -> bool:
        key = tmp.name[1:].split(".", 1)[0]
        lock_path = self.root / "locks" / stage / f"{key}.lock"
        try:
            young = time.time() - tmp.lstat().st_mtime < TEMP_GRACE_SECONDS
        except FileNotFoundError:
            return False  # its writer renamed or removed it meanwhile
        if not (tmp.is_dir() and lock_path.exists()):
            if young:
                return False
            remove_path(tmp)
            return True
        with open(lock_path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                remove_path(tmp)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return True

    @contextmanager
    def using(self) -> Iterator[None]:
        """Held (shared) by a run for as long as it uses the store: ``store gc`` removes
        nothing while any run holds it."""
        path = self.root / "locks" / "store.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def write_dir(self, stage: str, key: str) -> Iterator[Path]:
        """A temp folder to fill; renamed to the entry's final path when the block exits."""
        final = self.path(stage, key)
        with _naming_failed_writes(final):
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = make_temp_dir(final.parent, prefix=f".{key}.")
            try:
                yield tmp
                integrity.write_folder_digest(tmp, stage, key)
                apply_umask_modes(tmp)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    def write_json(self, stage: str, key: str, data: dict) -> None:
        """Write a one-file entry, its digest inside (``integrity.with_digest``)."""
        path = self.path(stage, key, ".json")
        record = integrity.with_digest(data, key)
        with _naming_failed_writes(path):
            write_atomic(path, json.dumps(record, indent=1, sort_keys=True))

    def read_json(self, stage: str, key: str) -> dict | None:
        """A one-file entry's record, checked; None when missing or set aside as damaged."""
        verdict = self.checked(stage, key, ".json")
        return verdict.record if verdict.state in ("ok", "legacy") else None


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree (a symlink itself, never what it points to)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
