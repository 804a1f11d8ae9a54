"""Which store entries each run directory uses, and which run directories use a store.

A run directory lists the entries it was built from (``ENTRIES_FILE``: fine-tunes,
edits, scores and its plot set), and the store lists the run directories written from
it (``runs/<hash of the output path>.json``). ``store gc`` keeps exactly the entries
that a listed run directory still holding its list names.
"""

from __future__ import annotations

import contextlib
import glob
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import write_atomic
from .integrity import STAGES
from .keys import digest
from .ownership import is_run_dir

ENTRIES_FILE = "store-entries.json"  # in every run directory


def write_store_entries(folder: Path, ctx, plots_key: str) -> None:
    """List in run directory ``folder`` every store entry the run read (``ctx``: the
    run's ``context.RunContext``)."""
    from .scoring import score_keys

    plan = ctx.plan
    cells = [*plan.cells, *plan.reference_cells]
    scores = {k for cell in cells for k in score_keys(plan, cell).values()}
    entries = {
        "finetunes": sorted(plan.finetunes),
        "edits": sorted(set(plan.edits) | set(plan.imported)),
        "scores": sorted(scores | ctx.group_score_keys),
        "plots": [plots_key],
    }
    record = {"store": str(ctx.store.root.absolute()), "entries": entries}
    write_atomic(folder / ENTRIES_FILE, json.dumps(record, indent=1))


def register_run(store, out: Path) -> None:
    """Record in the store that run directory ``out`` uses it. A store this user cannot
    write loses only the record (its entries then count as unreferenced to gc)."""
    path = out.absolute()
    record = json.dumps({"output": str(path)})
    with contextlib.suppress(OSError):
        write_atomic(store.root / "runs" / f"{digest(str(path))}.json", record)


def run_dir_leftovers(out: Path) -> list[Path]:
    """The temp and old folders a killed write of run directory ``out`` left beside it
    (``.<name>.tmp-*``, ``.<name>.old-*``)."""
    pattern = glob.escape(str(out.parent / f".{out.name}."))
    return sorted(Path(p) for p in glob.glob(pattern + "tmp-*") + glob.glob(pattern + "old-*"))


def sweep_run_dir_leftovers(out: Path) -> int:
    """Remove ``run_dir_leftovers(out)``; call it holding the output's lock."""
    leftovers = run_dir_leftovers(out)
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    return len(leftovers)


@dataclass
class References:
    """What the run directories registered with a store reference."""

    keys: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in STAGES})
    runs: list[Path] = field(default_factory=list)  # live run directories that use it
    gone: list[Path] = field(default_factory=list)  # registrations whose run is gone
    unlisted: list[Path] = field(default_factory=list)  # runs without ENTRIES_FILE


def references(store_root: Path) -> References:
    """Read every registration of the store at ``store_root``."""
    found = References()
    root = store_root.absolute()
    for record_file in sorted((store_root / "runs").glob("*.json")):
        try:
            out = Path(json.loads(record_file.read_text())["output"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        listed = _read(out / ENTRIES_FILE)
        if not is_run_dir(out) or (listed and Path(listed.get("store", "")) != root):
            found.gone.append(out)  # replaced by something else, or now built elsewhere
            continue
        if not isinstance(listed, dict) or not isinstance(listed.get("entries"), dict):
            found.unlisted.append(out)
            continue
        found.runs.append(out)
        for stage in STAGES:
            found.keys[stage].update(listed["entries"].get(stage, []))
    return found


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
