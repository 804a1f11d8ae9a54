"""Reading finished runs' cells tables, for analyses that pool several runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..metrics.names import family_of


class ReproductionError(InputError):
    """A run directory without a cells table, or tables the analysis cannot use."""


def load_run(run_dir: str | Path) -> pd.DataFrame:
    """A run's cells with ``run`` and, when not swept, ``finetune.method`` filled in
    from its resolved protocol (so runs of different protocols can be pooled)."""
    import yaml

    from ..runner.finished import run_dir_problem

    run_dir = Path(run_dir)
    problem = run_dir_problem(run_dir)
    if problem is not None:
        raise ReproductionError(problem)
    cells = read_cells_table(run_dir)
    protocol = {}
    if (run_dir / "protocol.yaml").is_file():
        protocol = yaml.safe_load((run_dir / "protocol.yaml").read_text()) or {}
    cells = cells.copy()
    cells["run"] = protocol.get("name", run_dir.name)
    cells["run_dir"] = str(run_dir)
    if "finetune.method" not in cells:
        cells["finetune.method"] = (protocol.get("finetune") or {}).get("method", "unknown")
    return cells


def read_cells_table(run_dir: Path) -> pd.DataFrame:
    """The run's cells table (parquet, else csv); a damaged one (truncated, overwritten)
    is a ReproductionError naming the file, not a reader's traceback."""
    for name, read in (("cells.parquet", pd.read_parquet), ("cells.csv", pd.read_csv)):
        path = run_dir / name
        if path.is_file():
            try:
                return read(path)
            except Exception as err:  # noqa: BLE001 - each reader raises its own kinds
                why = f"{type(err).__name__}: {err}".splitlines()[0][:200]
                raise ReproductionError(
                    f"{path}: unreadable cells table ({why}); rerun the protocol to write it"
                ) from None
    raise ReproductionError(f"{run_dir}: no cells.parquet or cells.csv (not a run directory)")


def metric_column(cells: pd.DataFrame, family: str) -> str | None:
    """The column of a metric family ('lpips' also matches 'st_lpips[...]': the label
    of lpips scored by the shift-tolerant network that stood in)."""
    for column in cells.columns:
        base = family_of(column)
        if base == family or (family == "lpips" and base == "st_lpips"):
            return column
    return None
