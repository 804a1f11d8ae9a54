"""A methods run's reference rows in its frontier: the fine-tuned-only and
pretrained-only samples the run computed for its metrics (edit_score's anchors, SINE's
memorized sample, editability_gap's reference) and scored as cells
(``runner/reference_cells.py``, the run directory's references.csv).

They are not grid settings: a row per distinct reference setting (method, v, K, size,
and the sampling settings that tell references apart), flagged ``reference``, never the
best and never on a Pareto frontier, so the grid's rows read exactly as without them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .frontier import REPLICATE_AXES, Columns, setting_rows, settings_table

REFERENCE = "reference"  # the frontier table's flag column
REFERENCES_FILE = "references.csv"  # runner.reference_cells writes it
# the edit settings a reference's image depends on besides size and seed (its columns)
SAMPLING = ("guidance", "steps", "eta", "scheduler")


def read_references(run_dir: Path) -> pd.DataFrame | None:
    """The run's references.csv (None for a run without one: a SINE grid, a run made
    before reference rows existed)."""
    path = Path(run_dir) / REFERENCES_FILE
    if not path.is_file():
        return None
    return pd.read_csv(path)


def reference_axes(references: pd.DataFrame, axes: list[str]) -> list[str]:
    """What makes one reference row: method, v, K, the run's other non-seed axes the
    references carry, and the sampling settings that differ among them."""
    out = [a for a in ("method", "v", "K") if a in references]
    out += [a for a in axes if a in references and a not in out and a not in REPLICATE_AXES]
    varying = [c for c in SAMPLING if c in references and references[c].nunique() > 1]
    return out + [c for c in varying if c not in out]


def with_reference_rows(
    table: pd.DataFrame, references: pd.DataFrame, axes: list[str], shown: list[str]
) -> pd.DataFrame:
    """``table`` (a grid's settings table) with the references' rows after its own."""
    by = reference_axes(references, axes)
    rows = pd.DataFrame(setting_rows(references, by, shown))
    rows[REFERENCE] = True
    for flag in ("frontier", "frontier_overall", "best"):
        if flag in table:
            rows[flag] = False
    grid_axes = list(table.attrs["axes"])
    out = pd.concat([table.assign(**{REFERENCE: False}), rows], ignore_index=True)
    for column in table.columns.intersection(out.columns):  # K stays 400, not 400.0
        if pd.api.types.is_integer_dtype(table[column]) and out[column].dtype != table[column]:
            out[column] = out[column].astype("Int64")
    out.attrs["axes"] = grid_axes + [a for a in by if a not in grid_axes]
    out.attrs["grid_axes"] = grid_axes
    out.attrs["reference_axes"] = by
    return out


def marked(text: str, row: pd.Series) -> str:
    """``text`` (a role, a column head) with '(reference)' added on a reference row."""
    return f"{text} (reference)" if is_reference(row) else str(text)


def is_reference(row: pd.Series) -> bool:
    """Whether a settings-table row is a reference row (a column read back from CSV)."""
    value = row.get(REFERENCE, False)
    return bool(value) and not pd.isna(value)


def frontier_table(
    cells: pd.DataFrame, axes: list[str], references: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``frontier.settings_table`` of the grid's cells, with ``references`` (a methods
    run's references.csv) as rows after the grid's: flagged ``reference``, never best,
    never on a frontier, the grid's rows unchanged."""
    table = settings_table(cells, axes)
    if references is None or not len(references):
        return table
    return with_reference_rows(table, references, axes, Columns.of(cells).shown)
