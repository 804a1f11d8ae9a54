"""The error contract shared by every command (docs/errors.md).

Exit 2: bad input (a protocol, dataset, option or file the user must change).
Exit 1: the environment failed (disk full, a read-only or unwritable location, a
worker or cluster gone); the store keeps every finished entry, so a rerun after the
fix recomputes nothing that had finished. 130 / 143: interrupted by SIGINT / SIGTERM.
Every one of them prints one line on stderr. Exit 2 and 1 are decided by two bases,
``InputError`` and ``EnvironmentFailure``: every error class of the package derives
from exactly one of them (``Interrupted`` has its own codes).

Libraries report a failing write in different ways: ``OSError`` (Python, PIL,
pyarrow), ``SafetensorError('... (os error 28)')`` (safetensors' Rust writer), or a
``RuntimeError`` naming the failed write (torch). ``environment_errno`` reads all of
them, so a full disk is one line wherever it strikes.
"""

from __future__ import annotations

import errno
import os
import re
import signal

EXIT_INPUT = 2
EXIT_ENVIRONMENT = 1
EXIT_SIGNAL_BASE = 128  # a run stopped by signal N exits 128 + N

# errnos that mean "the machine", not "the input": fix the location, then rerun
SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
ACCESS = {errno.EROFS, errno.EACCES, errno.EPERM}
_RUST_OS_ERROR = re.compile(r"os error (\d+)")
_TEXT_ERRNO = {os.strerror(code): code for code in SPACE | ACCESS}


class InputError(ValueError):
    """Bad input (exit 2): a protocol, dataset, option or file the user must change.

    Every such error of sine-bench subclasses this, so the CLI maps one base, not a
    list of classes (tests/test_errors.py walks them). The message is one line naming
    the field or file and how to fix it."""


class EnvironmentFailure(RuntimeError):
    """The machine, not the input, failed (exit 1). The message is one line."""

    def details(self) -> list[str]:
        """Lines printed before the error line (e.g. one per failed job)."""
        return []


class JobFailure(EnvironmentFailure):
    """One job failed on its own (a plug-in's code raised): the executor goes on with
    the stage's other jobs and reports every failure together (``JobsFailed``)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM stopped a command; ``summary`` says what the store keeps.

    A BaseException like KeyboardInterrupt, so no ``except Exception`` swallows it and
    every cleanup (temp folders, half-written run directories) runs on the way out."""

    def __init__(self, signum: int, summary: str = ""):
        super().__init__(signum, summary)
        self.signum, self.summary = signum, summary

    @property
    def exit_code(self) -> int:
        return EXIT_SIGNAL_BASE + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def raise_interrupted(signum: int, _frame: object = None) -> None:
    """A signal handler: turn SIGTERM (or SIGINT) into ``Interrupted``."""
    raise Interrupted(signum)


def environment_errno(err: BaseException) -> int | None:
    """The errno of a failed write or access anywhere in ``err``'s chain, else None.

    Only errnos that mean the environment count (no space, read-only, permission);
    a missing file or a bad name stays the caller's business."""
    for current in _chain(err):
        code = current.errno if isinstance(current, OSError) else None
        if code is None:
            text = str(current)
            match = _RUST_OS_ERROR.search(text)
            if match:
                code = int(match.group(1))
            else:
                code = next((c for t, c in _TEXT_ERRNO.items() if t in text), None)
        if code in SPACE | ACCESS:
            return code
    return None


def fix_hint(code: int | None) -> str:
    """How to fix an environment failure with errno ``code``."""
    if code in SPACE:
        what = "free some space there (or point 'store'/'output' elsewhere)"
    elif code in ACCESS:
        what = "make it writable (or point 'store'/'output' elsewhere)"
    else:
        what = "fix it"
    return f"{what}, then rerun: finished fine-tunes, edits and scores are kept"


def environment_message(err: BaseException, where: str | None = None) -> str | None:
    """``<path>: <what> (<how to fix>)`` for an environment failure, else None."""
    code = environment_errno(err)
    if code is None:
        return None
    path = where or _filename(err) or "a file"
    return f"{path}: {os.strerror(code)} ({fix_hint(code)})"


def _filename(err: BaseException) -> str | None:
    for current in _chain(err):
        if isinstance(current, OSError) and current.filename:
            return str(current.filename)
    return None


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and the exceptions it was raised from or while handling, each once."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and all(current is not c for c in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def one_line(err: BaseException, *, typed: bool = False) -> str:
    """The first line of an error's message (its type name when it has none);
    ``typed``: prefixed with its type name (how a failed job of a worker is reported)."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else ""
    if typed and line:
        return f"{type(err).__name__}: {line}"
    return line or type(err).__name__
