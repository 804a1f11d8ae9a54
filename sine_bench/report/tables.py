"""The cells table and its summaries: per grid axis, the mean and a 95% interval that
resamples source images (the independent unit; ``stats``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..runner.store import write_atomic
from .stats import CLUSTER, cluster_mean_ci

KEY_COLUMNS = ("cell_id", "item", "prompt_index", "prompt", "height", "width")
KEY_COLUMNS += ("finetune_key", "edit_key", "image")


def metric_columns(cells: pd.DataFrame, axes: list[str]) -> list[str]:
    return [c for c in cells.columns if c not in KEY_COLUMNS and c not in axes]


def summarize(cells: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """One row per combination of ``by``: n (cells), images (source images), and per
    metric its mean, lo and hi: a 95% interval that resamples source images
    (``stats.cluster_mean_ci``; each cell its own unit in a table without ``item``)."""
    rows = []
    for values, group in cells.groupby(by, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        clusters = group[CLUSTER] if CLUSTER in group else range(len(group))
        row = dict(zip(by, values, strict=True)) | {"n": len(group)}
        row["images"] = len(set(clusters))
        for metric in metrics:
            data = group[metric].to_numpy(dtype=float)
            lo, hi = cluster_mean_ci(data, list(clusters))
            finite = data[~np.isnan(data)]
            row[metric] = float(finite.mean()) if len(finite) else math.nan
            row[f"{metric}_lo"], row[f"{metric}_hi"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(summary: pd.DataFrame, by: list[str], metrics: list[str]) -> str:
    """'mean [lo, hi]' per metric (pandas' to_markdown needs tabulate; this does not)."""
    header = [*by, "n", "images", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.iterrows():
        cells = [str(row[b]) for b in by] + [str(int(row["n"])), str(int(row["images"]))]
        for m in metrics:
            cells.append(f"{row[m]:.4g} [{row[m + '_lo']:.4g}, {row[m + '_hi']:.4g}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(cells: pd.DataFrame, axes: list[str], out: Path) -> dict:
    """cells.csv/.parquet, frontier.csv (per setting, seeds pooled), summary/<axis>.csv/.md
    for swept axes, and summary.json (grouped by every axis: what ``compare`` checks)."""
    from .frontier import settings_table

    metrics = metric_columns(cells, axes)
    write_atomic(out / "cells.csv", cells.to_csv(index=False))
    cells.to_parquet(out / "cells.parquet", index=False)
    if metrics:
        write_atomic(out / "frontier.csv", settings_table(cells, axes).to_csv(index=False))
    swept = [a for a in axes if cells[a].nunique() > 1] or axes[:1]
    for axis in swept:
        summary = summarize(cells, [axis], metrics)
        write_atomic(out / "summary" / f"{axis}.csv", summary.to_csv(index=False))
        write_atomic(out / "summary" / f"{axis}.md", to_markdown(summary, [axis], metrics))
    full = summarize(cells, axes, metrics)
    record = {
        "axes": axes,
        "metrics": metrics,
        "rows": [
            {
                "axes": {a: _plain(r[a]) for a in axes},
                "n": int(r["n"]),
                "metrics": {m: _plain(r[m]) for m in metrics},
            }
            for _, r in full.iterrows()
        ],
    }
    write_atomic(out / "summary.json", json.dumps(record, indent=1))
    return record


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
