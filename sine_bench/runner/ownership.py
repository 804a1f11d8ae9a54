"""Only ever replace what sine-bench made: the run directory's marker and the check.

A run replaces its output folder whole, so it must know the folder is a sine-bench run
and holds nothing a user put there. Every run directory carries ``MARKER``: a small
JSON file naming sine-bench, the run-directory format version and the top-level names
the run wrote. A folder may be replaced only when it is free (absent or empty), or
holds a marker and nothing beyond the names it lists. Folders written before the
marker existed are recognised by their manifest (sine-bench's own fields) when every
top-level name is one such a run wrote (``LEGACY_NAMES``); anything else is refused
with one line before compute.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..protocol.fields import ProtocolError

MARKER = "sine-bench-run.json"
FORMAT = 1  # the run directory's layout version; bump when its layout changes
WRITTEN_BY = "sine-bench"
# the field-shaped results (``results_files``); results.json records samples.jsonl's sha256
SAMPLES = "samples.jsonl"
RESULTS = "results.json"

# What a run wrote at its top level before the marker (commit 39eed21 and earlier).
LEGACY_NAMES = frozenset(
    {
        "protocol.yaml",
        "manifest.json",
        "cells.csv",
        "cells.parquet",
        "frontier.csv",
        "summary.json",
        "summary",
        "plots",
        "images",
        "report.html",
    }
)
# Fields every sine-bench manifest has had: a manifest.json without them is not ours.
_MANIFEST_FIELDS = frozenset({"protocol", "sine_bench", "method_version", "cells", "stages"})


def marker_record(folder: Path) -> dict:
    """The marker for a run directory assembled in ``folder`` (call it last)."""
    names = sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    return {"written_by": WRITTEN_BY, "format": FORMAT, "names": names}


def write_marker(folder: Path) -> None:
    """Write ``MARKER`` into a fully assembled run directory ``folder``."""
    from ..fileio import write_atomic

    write_atomic(folder / MARKER, json.dumps(marker_record(folder), indent=1))


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def foreign_names(folder: Path) -> list[str] | None:
    """Top-level names in ``folder`` that no sine-bench run wrote; None when ``folder``
    is not a sine-bench run directory at all (no marker and no sine-bench manifest)."""
    present = {p.name for p in folder.iterdir()}
    marker = _read_json(folder / MARKER)
    if isinstance(marker, dict) and marker.get("written_by") == WRITTEN_BY:
        names = marker.get("names")
        allowed = set(names) if isinstance(names, list) else set()
        return sorted(present - allowed - {MARKER})
    manifest = _read_json(folder / "manifest.json")
    if isinstance(manifest, dict) and set(manifest) >= _MANIFEST_FIELDS:
        return sorted(present - LEGACY_NAMES)
    return None


def is_run_dir(folder: Path) -> bool:
    """A folder sine-bench wrote as a run directory, holding nothing else."""
    return folder.is_dir() and foreign_names(folder) == []


def check_replaceable(out: Path) -> None:
    """Raise ProtocolError (one line) unless a run may replace ``out`` whole."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise ProtocolError(
            f"output {str(out)!r} exists and is not a folder; choose another 'output' "
            "(a run replaces its output folder)"
        )
    if not any(out.iterdir()):
        return
    foreign = foreign_names(out)
    if foreign is None:
        raise ProtocolError(
            f"output {str(out)!r} exists and is not a sine-bench run directory (no "
            f"{MARKER}); choose another 'output' (a run replaces its output folder)"
        )
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ProtocolError(
            f"output {str(out)!r} is a sine-bench run directory but also holds files it "
            f"did not write ({shown}); move them out or choose another 'output' (a run "
            "replaces its output folder)"
        )
