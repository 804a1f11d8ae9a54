"""What a store entry's bytes must be: its digest, recorded when written, checked when read.

A folder entry (a fine-tune, an edit, a plot set) holds ``DIGEST_FILE``: its stage, its
key and every other file's size and sha256. A score entry is one JSON file whose
``DIGEST_FIELD`` holds its key and the sha256 of the rest of the record. The key is
recorded so that an entry moved under another key (a swapped folder) fails too.

Checking is cheap: sizes first, then sha256; a result is cached per process against
each file's (size, mtime, inode), so an entry read ten times is hashed once. Entries
written before digests existed ("legacy") get a structural check instead (JSON parses,
PNGs verify, safetensors files are complete) and, when that passes, their digest is
recorded on that first read; no key changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..fileio import file_sha256

DIGEST_FILE = "sine_bench_digest.json"  # in every folder entry
DIGEST_FIELD = "sine_bench_digest"  # in every score record
FOLDER_STAGES = ("finetunes", "edits", "plots")
FILE_STAGES = {"scores": ".json"}
STAGES = (*FOLDER_STAGES, *FILE_STAGES)

# entry path -> (signature of its files, 'ok' or 'legacy') when it last checked sound here
_SOUND: dict[str, tuple[tuple, str]] = {}


@dataclass(frozen=True)
class Verdict:
    """What checking one entry found: ``state`` is 'ok', 'legacy' (sound, no digest
    recorded before), 'missing' or 'damaged' (then ``problem`` says why)."""

    state: str
    problem: str = ""
    record: object = None  # a score entry's parsed record (it was read anyway)


# --------------------------------------------------------------------------- digests


def folder_digest(folder: Path, stage: str, key: str) -> dict:
    """The digest record of a folder entry's files (all but ``DIGEST_FILE``)."""
    files = {}
    for path in sorted(_files(folder)):
        rel = path.relative_to(folder).as_posix()
        if rel != DIGEST_FILE:
            files[rel] = [path.stat().st_size, file_sha256(path)]
    return {"stage": stage, "key": key, "files": files}


def write_folder_digest(folder: Path, stage: str, key: str) -> None:
    """Record ``folder``'s digest inside it (before it is renamed into place)."""
    from ..fileio import write_atomic

    record = folder_digest(folder, stage, key)
    write_atomic(folder / DIGEST_FILE, json.dumps(record, indent=1, sort_keys=True))


def _record_sha(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != DIGEST_FIELD}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def with_digest(record: dict, key: str) -> dict:
    """A score record carrying its own digest (of its key and every other field)."""
    return record | {DIGEST_FIELD: {"key": key, "sha256": _record_sha(record)}}


# --------------------------------------------------------------------------- checking


def _files(folder: Path) -> list[Path]:
    return [Path(d, n) for d, _, names in os.walk(folder) for n in names]


def _signature(path: Path) -> tuple:
    files = _files(path) if path.is_dir() else [path]
    stats = []
    for file in sorted(files):
        st = file.stat()
        stats.append((str(file), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(stats)


def check(path: Path, stage: str, key: str, *, cached: bool = True) -> Verdict:
    """Check the entry at ``path`` (``cached``: trust a check this process already made
    on the same files). Never raises for damage: the verdict says what is wrong."""
    if not path.exists():
        return Verdict("missing")
    try:
        signature = _signature(path)
        known = _SOUND.get(str(path))
        if cached and known and known[0] == signature and stage not in FILE_STAGES:
            return Verdict(known[1])  # 'legacy' again: its digest is not recorded yet
        if stage in FILE_STAGES:
            verdict = _check_score(path, key)
        else:
            verdict = _check_folder(path, stage, key)
    except OSError as err:  # unreadable bytes are damage too (EIO on a bad sector)
        return Verdict("damaged", f"cannot be read ({err.strerror or err})")
    if verdict.state in ("ok", "legacy"):
        _SOUND[str(path)] = (signature, verdict.state)
    return verdict


def forget(path: Path) -> None:
    """Drop ``path`` from the per-process cache (it was moved or rewritten)."""
    _SOUND.pop(str(path), None)


def _check_folder(folder: Path, stage: str, key: str) -> Verdict:
    if not folder.is_dir():
        return Verdict("damaged", "is a file, not a folder")
    record_file = folder / DIGEST_FILE
    if not record_file.exists():
        problem = _legacy_folder_problem(folder, stage)
        return Verdict("damaged", problem) if problem else Verdict("legacy")
    record = _read_json(record_file)
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return Verdict("damaged", f"{DIGEST_FILE} is malformed")
    if record.get("key") != key:
        return Verdict("damaged", f"holds the entry of key {str(record.get('key'))[:12]}...")
    listed = record["files"]
    present = {p.relative_to(folder).as_posix() for p in _files(folder)} - {DIGEST_FILE}
    if present - set(listed):
        return Verdict("damaged", f"{sorted(present - set(listed))[0]} was not written with it")
    for rel, expected in sorted(listed.items()):
        path = folder / rel
        if not path.is_file():
            return Verdict("damaged", f"{rel} is missing")
        size, sha = expected
        if path.stat().st_size != size:
            return Verdict("damaged", f"{rel} is {path.stat().st_size} bytes, written {size}")
    for rel, (_, sha) in sorted(listed.items()):  # sizes first: hashing is the slow part
        if file_sha256(folder / rel) != sha:
            return Verdict("damaged", f"{rel}: sha256 differs from the one recorded at write")
    return Verdict("ok")


def _check_score(path: Path, key: str) -> Verdict:
    record = _read_json(path)
    if not isinstance(record, dict) or "value" not in record or "label" not in record:
        what = "empty" if path.stat().st_size == 0 else "not a score record"
        return Verdict("damaged", f"{what} (a JSON object with 'label' and 'value')")
    stamp = record.get(DIGEST_FIELD)
    if stamp is None:
        return Verdict("legacy", record=record)
    if not isinstance(stamp, dict) or stamp.get("key") != key:
        return Verdict("damaged", "holds another key's score")
    if stamp.get("sha256") != _record_sha(record):
        return Verdict("damaged", "its content differs from the one recorded at write")
    return Verdict("ok", record=record)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


# --------------------------------------------------------------------------- legacy entries


def _legacy_folder_problem(folder: Path, stage: str) -> str | None:
    """What structurally breaks a folder entry written before digests, if anything."""
    files = sorted(_files(folder))
    if not files:
        return "is empty"
    if stage == "edits":
        for name in ("edit.png", "edit.json"):
            if not (folder / name).is_file():
                return f"{name} is missing"
    for path in files:
        rel = path.relative_to(folder).as_posix()
        problem = None
        if path.suffix == ".json" and _read_json(path) is None:
            problem = "is not valid JSON"
        elif path.suffix == ".png":
            problem = _png_problem(path)
        elif path.suffix == ".safetensors":
            problem = _safetensors_problem(path)
        if problem:
            return f"{rel} {problem}"
    return None


def _png_problem(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()  # decodes every byte: verify() alone misses a truncated tail
    except Exception:
        return "does not decode"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file is an 8-byte header length, a JSON header, then the data its
    offsets name: a file of another size was truncated or extended."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return "is truncated"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return "is truncated"
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, ValueError):
            return "has a malformed header"
    if not isinstance(header, dict):
        return "has a malformed header"
    ends = [
        v["data_offsets"][1]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
    ]
    if 8 + length + max(ends, default=0) != size:
        return "is truncated or extended"
    return None
