"""Test helpers that make the environment fail for real: a full disk, a read-only
folder, a signal, two runs at once. Each runs `sine-bench` in a subprocess.

Read-only: chmod when the tests run as a normal user; as root chmod blocks nothing,
so a read-only bind mount in a user namespace (``unshare``) stands in, and the test
is skipped where neither works. A full disk: RLIMIT_FSIZE makes every write past
the limit fail in the kernel (EFBIG), through each library's own writer; a real
tmpfs (``unshare`` again) gives a genuine ENOSPC where namespaces are allowed.
"""

from __future__ import annotations

import functools
import os
import resource
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import ROOT

# Runs the CLI like the console script does, after an optional setup statement
# (registering the test-only backbones of tests/fakes.py).
_CLI = (
    "import sys\n"
    "exec(sys.argv[1])\n"
    "from sine_bench.cli import app\n"
    "app(sys.argv[2:], prog_name='sine-bench')\n"
)


def cli_command(args: Sequence[str], setup: str = "") -> list[str]:
    return [sys.executable, "-c", _CLI, setup, *map(str, args)]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_WAIT_POLICY="PASSIVE")
    env |= {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return env | extra


def run_cli(
    args: Sequence[str],
    *,
    prefix: Sequence[str] = (),
    setup: str = "",
    preexec_fn=None,
    env: dict | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """``sine-bench ARGS`` to completion; stdout and stderr kept apart."""
    return subprocess.run(
        [*prefix, *cli_command(args, setup)],
        cwd=ROOT,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        preexec_fn=preexec_fn,
        timeout=timeout,
    )


def start_cli(args: Sequence[str], *, setup: str = "", env: dict | None = None, preexec_fn=None):
    return subprocess.Popen(
        cli_command(args, setup),
        cwd=ROOT,
        env=env or cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@functools.cache
def namespaces_work() -> bool:
    """Whether this machine lets an unprivileged user namespace mount things."""
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--user", "--map-root-user", "--mount", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def _chmod_tree(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        mode = (
            mode | stat.S_IWUSR
            if writable
            else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        )
        path.chmod(mode)


@contextmanager
def read_only(*folders: Path) -> Iterator[list[str]]:
    """Make ``folders`` read-only for the command run with the yielded prefix."""
    if os.geteuid() != 0:
        for folder in folders:
            _chmod_tree(folder, writable=False)
        try:
            yield []
        finally:
            for folder in folders:
                _chmod_tree(folder, writable=True)
        return
    if not namespaces_work():
        pytest.skip("running as root (chmod blocks nothing) without user namespaces to mount")
    mounts = " && ".join(
        f"mount --bind '{f}' '{f}' && mount -o remount,bind,ro '{f}'" for f in folders
    )
    yield [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        f'{mounts} && exec "$@"',
        "sh",
    ]


def file_size_limit(limit: int):
    """A preexec_fn: writes past ``limit`` bytes in any one file fail with EFBIG
    (CPython ignores SIGXFSZ, so the write returns the error instead of killing)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def on_tmpfs(mountpoint: Path, size: str, script: str) -> list[str]:
    """A command that runs shell ``script`` with a fresh tmpfs of ``size`` mounted at
    ``mountpoint`` (private to that command: its files vanish with it)."""
    if not namespaces_work():
        pytest.skip("no user namespaces here to mount a small tmpfs")
    mount = f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(mountpoint))}"
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f"{mount} && {script}"]


def tmpfs_prefix(mountpoint: Path, size: str) -> list[str]:
    """A prefix for ``run_cli``: the command runs with a tmpfs at ``mountpoint``."""
    return [*on_tmpfs(mountpoint, size, 'exec "$@"'), "sh"]
