"""The cells table and its summaries: per grid axis, the mean and a 95% interval that
resamples source images (the independent unit; ``stats``). With several methods every
summary is per method: by method, by (method, axis) over the cells that have the axis,
and by setting (every axis but the seed), with each setting's mean cost."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..fileio import write_atomic
from . import resolution
from .stats import CLUSTER, cluster_mean_ci, count_once

KEY_COLUMNS = ("cell_id", "item", "prompt_index", "prompt", "method", "height", "width")
KEY_COLUMNS += ("source_size", "finetune_key", "edit_key", "image", "edit_type")
COST_PREFIX = "cost."  # cost columns: summarised as means, never drift-checked


def metric_columns(cells: pd.DataFrame, axes: list[str]) -> list[str]:
    return [
        c
        for c in cells.columns
        if c not in KEY_COLUMNS and c not in axes and not c.startswith(COST_PREFIX)
    ]


def cost_columns(cells: pd.DataFrame) -> list[str]:
    return [c for c in cells.columns if c.startswith(COST_PREFIX)]


def summarize(
    cells: pd.DataFrame, by: list[str], metrics: list[str], costs: list[str] = ()
) -> pd.DataFrame:
    """One row per combination of ``by``: n (cells), images (source images), per
    metric its mean, lo and hi: a 95% interval that resamples source images
    (``stats.cluster_mean_ci``; each cell its own unit in a table without ``item``),
    and the mean of each ``costs`` column."""
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
        for cost in costs:
            row[cost] = float(group[cost].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(summary: pd.DataFrame, by: list[str], metrics: list[str]) -> str:
    """'mean [lo, hi]' per metric (pandas' to_markdown needs tabulate; this does not)."""
    costs = [c for c in summary.columns if c.startswith(COST_PREFIX)]
    header = [*by, "n", "images", *metrics, *costs]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.iterrows():
        cells = ["-" if pd.isna(row[b]) else str(row[b]) for b in by]
        cells += [str(int(row["n"])), str(int(row["images"]))]
        for m in metrics:
            cells.append(f"{row[m]:.4g} [{row[m + '_lo']:.4g}, {row[m + '_hi']:.4g}]")
        cells += [f"{row[c]:.4g}" for c in costs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(
    cells: pd.DataFrame, axes: list[str], out: Path, references: pd.DataFrame | None = None
) -> dict:
    """cells.csv/.parquet, frontier.csv (per setting, seeds pooled; a methods run's
    ``references`` rows after the grid's), summary/<axis>.csv/.md for swept axes, and
    summary.json (grouped by every axis: what ``compare`` checks; never the references)."""
    from .frontier import settings_table

    metrics = metric_columns(cells, axes)
    write_atomic(out / "cells.csv", cells.to_csv(index=False))
    cells.to_parquet(out / "cells.parquet", index=False)
    if metrics:
        table = settings_table(cells, axes, references)
        write_atomic(out / "frontier.csv", table.to_csv(index=False))
    swept = [a for a in axes if cells[a].nunique() > 1] or axes[:1]
    sizes = bool(metrics) and resolution.has_sizes(cells)
    if sizes:  # sources of several sizes: summary/resolution.md is the frontier per size
        tables = resolution.frontiers(cells, axes, references)
        write_atomic(out / "summary" / "resolution_frontier.csv", resolution.to_csv(tables))
        write_atomic(out / "summary" / "resolution.md", resolution.to_markdown(tables))
    full = cells  # summary.json keeps every seed's row (it pools nothing over seeds)
    cells = count_once(cells, axes)  # what pools over seeds counts an image once
    for axis in swept:
        name = "resolution_label" if sizes and axis == "resolution" else axis
        if "method" in axes:  # per method, over the cells whose method has the axis
            by = ["method"] if axis == "method" else ["method", axis]
            costs = cost_columns(cells) if axis == "method" else ()
            _write_summary(cells[cells[axis].notna()], by, metrics, out, name, costs)
        else:
            _write_summary(cells, [axis], metrics, out, name)
    if "method" in axes:
        by = [a for a in axes if a != "seed"]
        _write_summary(cells, by, metrics, out, "setting", cost_columns(cells))
        if cost_columns(cells):
            from . import methods

            table = methods.methods_table(cells, axes, metrics)
            write_atomic(out / "summary" / "methods.csv", table.to_csv(index=False))
            text = methods.to_markdown(table, metrics)
            paired = methods.versus(cells, axes, metrics)
            if not paired.empty:
                write_atomic(out / "summary" / "methods_vs_sine.csv", paired.to_csv(index=False))
                text += "\nBest setting minus SINE's best, paired by (source, prompt), "
                text += "seeds averaged:\n\n"
                text += methods.versus_markdown(paired, metrics)
            write_atomic(out / "summary" / "methods.md", text)
    full = summarize(full, axes, metrics)
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


def _write_summary(
    cells: pd.DataFrame, by: list[str], metrics: list[str], out: Path, name: str, costs=()
) -> None:
    summary = summarize(cells, by, metrics, list(costs))
    write_atomic(out / "summary" / f"{name}.csv", summary.to_csv(index=False))
    write_atomic(out / "summary" / f"{name}.md", to_markdown(summary, by, metrics))


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
