"""Temp files and folders that honour the umask, and atomic writes built on them.

``tempfile.mkdtemp`` / ``mkstemp`` create 0700 / 0600 whatever the umask, which is
right for secrets and wrong for a store that a group shares (the Ray executor on a
cluster's shared filesystem): every entry would be readable by its writer only.
These create the temp entry the same way and then give it the mode a plain
``mkdir`` / ``open`` would have had, so a renamed-into-place entry looks like any
other file under the user's umask.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """sine-bench's user cache: $SINE_BENCH_CACHE, else $XDG_CACHE_HOME/sine-bench."""
    root = os.environ.get("SINE_BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "sine-bench"
    )
    return Path(root)


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def make_temp_dir(parent: str | Path, prefix: str) -> Path:
    """A fresh folder in ``parent`` with mode 0777 & ~umask (not mkdtemp's 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    _chmod_own(path, 0o777 & ~current_umask())
    return path


def make_temp_file(parent: str | Path, prefix: str, suffix: str = ".tmp") -> tuple[int, Path]:
    """An open fd and path in ``parent``, mode 0666 & ~umask (not mkstemp's 0600)."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except BaseException:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise
    return fd, Path(name)


def apply_umask_modes(root: str | Path) -> None:
    """Give ``root`` and everything under it the modes a plain mkdir/open would have:
    some writers ignore the umask (safetensors >= 0.8 writes 0600 files, via a temp
    file it renames; safetensors#782), so an entry is normalised before it is committed."""
    mask = current_umask()
    dir_mode, file_mode = 0o777 & ~mask, 0o666 & ~mask
    _chmod_own(root, dir_mode)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            _chmod_own(os.path.join(folder, name), dir_mode)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                _chmod_own(path, file_mode)


def _chmod_own(path: str | Path, mode: int) -> None:
    """chmod keeping a folder's setgid bit (a group-shared store's folders pass their
    group on with it); a file another user owns (a hard link into a shared store) keeps
    its mode: only its owner may change it, and its owner already gave it the right one."""
    try:
        os.chmod(path, mode | (os.lstat(path).st_mode & stat.S_ISGID))
    except PermissionError:
        if os.stat(path).st_uid == os.geteuid():
            raise


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write via a temp file in the same folder + rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = make_temp_file(path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_FICLONE = 0x40049409  # Linux ioctl: share the source's extents (btrfs, XFS, bcachefs)


def copy_file(src: str | Path, dest: str | Path) -> None:
    """Copy ``src`` to a new file ``dest``: a reflink where the filesystem can (no bytes
    copied, yet writing one never changes the other), else a plain copy. Never a hard
    link: editing a run directory's image must not edit the store."""
    with open(src, "rb") as source, open(dest, "xb") as target:
        try:
            fcntl.ioctl(target.fileno(), _FICLONE, source.fileno())
            return
        except OSError:
            pass  # not supported here (ext4, tmpfs, across filesystems): copy
        shutil.copyfileobj(source, target, 1 << 20)


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes (read in 1 MiB blocks): what keys and digests hash."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
