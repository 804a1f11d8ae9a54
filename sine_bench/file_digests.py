"""sha256 of large files, remembered across runs while a file is unchanged.

Fingerprinting a checkpoint's weights (``weights.pipeline_fingerprint``) on every plan
would hash gigabytes each time. A digest is remembered against the file's signature:
its resolved path, size, mtime, ctime, inode and device (the store's per-process check
cache, ``runner.integrity``, trusts the same kind of signature), in this process and
in the user cache (``cache_root()/file-digests.json``), so each version of a file is
hashed once. Any write to a file moves its ctime, which no tool can set back; a digest
taken within ``RACY_SECONDS`` of the file's last change is not remembered, since a
second write in the same clock tick would leave the signature as it was (git's
"racily clean" rule). The cache file is only a cache: when it cannot be read, parsed
or written it is ignored, never an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from .fileio import cache_root, file_sha256, write_atomic

CACHE_NAME = "file-digests.json"
FORMAT = 1
RACY_SECONDS = 2.0
# resolved path -> (signature, sha256) of every digest this process knows
_KNOWN: dict[str, tuple[tuple[int, ...], str]] = {}
_loaded_from: Path | None = None


def file_sha256s(paths: Iterable[Path]) -> dict[Path, str]:
    """The sha256 of each file in ``paths``: remembered ones without reading them,
    others hashed (and remembered, in the user cache too, once they are not racy)."""
    cache = cache_root() / CACHE_NAME
    _load(cache)
    out: dict[Path, str] = {}
    learned = False
    for path in paths:
        real = os.path.realpath(path)
        signature = _signature(real)
        known = _KNOWN.get(real)
        if known is not None and known[0] == signature:
            out[path] = known[1]
            continue
        out[path] = file_sha256(real)
        if _settled(real, signature):
            _KNOWN[real] = (signature, out[path])
            learned = True
    if learned:
        _save(cache)
    return out


def _signature(path: str) -> tuple[int, ...]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _settled(path: str, signature: tuple[int, ...]) -> bool:
    """Whether the file was last changed long enough ago that a later write would show
    in its signature, and did not change while it was hashed."""
    changed = max(signature[1], signature[2]) / 1e9
    try:
        return time.time() - changed >= RACY_SECONDS and _signature(path) == signature
    except OSError:
        return False


def _load(cache: Path) -> None:
    """Read the user cache once per process (and again when $SINE_BENCH_CACHE moves)."""
    global _loaded_from
    if _loaded_from == cache:
        return
    _loaded_from = cache
    for path, (signature, sha) in _read(cache).items():
        _KNOWN.setdefault(path, (signature, sha))


def _read(cache: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    try:
        record = json.loads(cache.read_text())
        files = record["files"] if record.get("format") == FORMAT else {}
        return {p: (tuple(int(v) for v in e[:5]), str(e[5])) for p, e in files.items()}
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}


def _save(cache: Path) -> None:
    """Merge what this process learned into the user cache (another process may have
    written it meanwhile), keeping only entries whose file is still as it was hashed."""
    merged = _read(cache) | _KNOWN
    files = {}
    for path, (signature, sha) in sorted(merged.items()):
        try:
            current = _signature(path)
        except OSError:
            continue
        if current == signature:
            files[path] = [*signature, sha]
    # a read-only or full home: digests are hashed again next time
    with contextlib.suppress(OSError):
        write_atomic(cache, json.dumps({"format": FORMAT, "files": files}))
