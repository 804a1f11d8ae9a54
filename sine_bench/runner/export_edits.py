"""``sine-bench export-edits``: a finished run's edits as an edits file, the input of
``sine-bench score`` (``edits_file``): one line per cell, naming its item, prompt,
edit image (relative to the edits file: the run directory's own copy), method,
height and width where they are not the source's, and its value of every grid axis.
Scoring that file with the run's protocol gives the run's metric values back."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import write_atomic
from ..report.cells import ReproductionError, read_cells_table
from .finished import run_dir_problem


class ExportError(InputError):
    """A run directory whose edits cannot be exported, or an unusable output path."""


def export_edits(run_dir: Path, out: Path) -> int:
    """Write ``out`` (JSON lines) from finished run directory ``run_dir``; returns the
    number of edits written."""
    problem = run_dir_problem(run_dir)
    if problem is not None:
        raise ExportError(problem)
    if out.is_dir():
        raise ExportError(f"{out}: is a folder (give the .jsonl file to write)")
    axes = json.loads((run_dir / "manifest.json").read_text())["axes"]
    try:
        cells = read_cells_table(run_dir)
    except ReproductionError as err:
        raise ExportError(str(err)) from None
    lines = []
    for _, row in cells.iterrows():
        image = run_dir / row["image"]
        if not image.is_file():
            raise ExportError(
                f"{run_dir}: holds no edit image {row['image']} (a copy without its images: "
                "rerun the protocol to write them)"
            )
        line = {
            "item": row["item"],
            "prompt": row["prompt"],
            "image": os.path.relpath(image.absolute(), out.absolute().parent),
            "method": row["method"],
        }
        size = f"{int(row['height'])}x{int(row['width'])}"
        if row.get("source_size") != size:
            line |= {"height": int(row["height"]), "width": int(row["width"])}
        for axis in (a for a in axes if a != "method"):
            value = _plain(row[axis])
            if value is not None:  # another method's axis: not this cell's setting
                line[axis] = value
        lines.append(json.dumps(line))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, "".join(f"{line}\n" for line in lines))
    return len(lines)


def _plain(value):
    """A table value as JSON writes it (numpy scalars as Python's; NaN as absent)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value
