"""Whether a folder is a finished run directory, for the commands that read one
(``compare``, ``reproduce-report``, ``report``).

A run assembles its directory under a temp name and writes the marker
(``ownership.MARKER``) last, listing what it wrote; a folder whose marker is missing or
names files that are not there was left by a killed run or copied in part, and its
tables may be stale or partial. Folders written before the marker existed (their
manifest has no ``run_dir_format``) count as finished when they hold sine-bench's
manifest, summary.json and a cells table: the old run swapped its folder in whole, and
results/reference keeps such folders without their images and report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..fileio import file_sha256
from .ownership import MARKER, RESULTS, SAMPLES, WRITTEN_BY

_TEMP_NAME = re.compile(r"^\..+\.tmp-")  # the folder a run assembles before swapping it in
_MANIFEST_FIELDS = {"protocol", "sine_bench", "method_version", "cells", "stages"}
_RUN_FILES = ("summary.json", "cells.csv", "cells.parquet", "manifest.json", "protocol.yaml")


def where(path: Path) -> str:
    """``path`` as a message names it: a relative one says which folder it was read from."""
    return str(path) if path.is_absolute() else f"{path} (relative to {Path.cwd()})"


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def _samples_problem(folder: Path) -> str | None:
    """Whether samples.jsonl is the file results.json records the sha256 of (one line
    per cell: small, hashed on every read). Runs written before results.json, or whose
    record names no digest, are not checked."""
    record = _json(folder / RESULTS)
    samples = record.get("samples") if isinstance(record, dict) else None
    expected = samples.get("sha256") if isinstance(samples, dict) else None
    if not isinstance(expected, str):
        return None
    try:
        actual = file_sha256(folder / SAMPLES)
    except OSError:
        actual = None
    if actual != expected:
        return (
            f"{folder / SAMPLES}: not the file {RESULTS} records (sha256 differs or the "
            "file is unreadable: edited or damaged after the run; rerun the protocol)"
        )
    return None


def run_dir_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a finished sine-bench run directory, or None when it is."""
    if not folder.exists():
        return f"{where(folder)}: no such folder"
    if not folder.is_dir():
        return f"{where(folder)}: not a folder"
    if _TEMP_NAME.match(folder.name):
        return (
            f"{folder}: a run directory still being written, or left by a killed run "
            "(give the run's output folder)"
        )
    marker = _json(folder / MARKER)
    if isinstance(marker, dict) and marker.get("written_by") == WRITTEN_BY:
        names = marker.get("names") if isinstance(marker.get("names"), list) else []
        missing = [str(n) for n in names if not (folder / str(n)).exists()]
        if missing:
            return (
                f"{folder}: half-written run directory ({', '.join(missing)} missing; rerun "
                "the protocol to write it whole)"
            )
        return _samples_problem(folder)
    manifest = _json(folder / "manifest.json")
    ours = isinstance(manifest, dict) and set(manifest) >= _MANIFEST_FIELDS
    legacy = ours and not {"run_dir_format", "store_repairs"} & set(manifest)
    tables = (folder / "cells.csv").is_file() or (folder / "cells.parquet").is_file()
    if legacy and tables and (folder / "summary.json").is_file():
        return None
    if any((folder / name).exists() for name in _RUN_FILES):
        return (
            f"{folder}: half-written run directory (no {MARKER}: the run stopped before it "
            "finished writing; rerun the protocol to write it whole)"
        )
    return f"{folder}: not a run directory (no {MARKER}; give a folder `sine-bench run` wrote)"
