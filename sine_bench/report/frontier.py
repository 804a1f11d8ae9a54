"""The frontier a report opens with: per setting, how often an edit is an edit of *this*
image (toy world: the oracle's faithful rate) or the text-alignment / fidelity pair
(real models), with intervals over source images, the Pareto frontier, and the two
references every SINE grid should be read against: the fine-tuned model alone
(v = 0, K = 0) and the pretrained model alone (v = 1, or K = 1000).

A run comparing methods (a ``method`` column) has one row per method and setting; each
method has its own Pareto frontier (``frontier``; ``frontier_overall`` marks the
settings no method beats) and the ``pretrained`` method is the pretrained-only reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics.families import family_record, sign_of
from .cells import metric_column
from .stats import CLUSTER, cluster_mean_ci, count_once

FINE_TUNED_ONLY = "fine-tuned only"
PRETRAINED_ONLY = "pretrained only"
REPLICATE_AXES = ("seed",)  # axes that repeat a setting rather than change it


@dataclass(frozen=True)
class Columns:
    """Which cells-table columns the frontier reads (None where the run lacks one)."""

    faithful: str | None
    success: str | None
    structure: str | None
    alignment: str | None  # clip_t[...]
    fidelity: str | None  # lpips / st_lpips, else psnr, ssim
    scores: tuple[str, ...]  # joint scores (edit_score[...]) when a run has them

    @classmethod
    def of(cls, cells: pd.DataFrame) -> Columns:
        fidelity = next(
            (c for f in ("lpips", "psnr", "ssim") if (c := metric_column(cells, f))), None
        )
        scores = tuple(c for c in cells.columns if (r := family_record(c)) and r.role == "joint")
        return cls(
            metric_column(cells, "oracle_faithful"),
            metric_column(cells, "oracle_edit_success"),
            metric_column(cells, "oracle_structure"),
            metric_column(cells, "clip_t"),
            fidelity,
            scores,
        )

    @property
    def shown(self) -> list[str]:
        names = (self.faithful, self.success, self.structure, *self.scores)
        return [c for c in (*names, self.alignment, self.fidelity) if c]


def setting_axes(cells: pd.DataFrame, axes: list[str]) -> list[str]:
    """The axes that make a setting: every grid axis but the replicates (seeds), plus a
    ``method`` column when the run compares methods."""
    out = [a for a in axes if a not in REPLICATE_AXES and a in cells]
    if "method" in cells and "method" not in out:
        out.insert(0, "method")
    return out


def role(setting: dict) -> str:
    """'fine-tuned only', 'pretrained only' or '' for one setting's axis values."""
    if setting.get("method") == "pretrained":
        return PRETRAINED_ONLY
    v, k = setting.get("v"), setting.get("K")
    if _equal(v, 1.0) or _equal(k, 1000):
        return PRETRAINED_ONLY
    if _equal(v, 0.0) and _equal(k, 0):
        return FINE_TUNED_ONLY
    return ""


def _equal(value, target: float) -> bool:
    try:
        return value is not None and math.isclose(float(value), target)
    except (TypeError, ValueError):
        return False


def higher_is_better(column: str) -> bool:
    """The metric record's direction (a column of no known family counts as higher)."""
    return sign_of(column, unknown=1) > 0


def setting_rows(cells: pd.DataFrame, by: list[str], shown: list[str]) -> list[dict]:
    """Per combination of ``by``: its values, role, n, images, and per ``shown`` column
    its mean and a 95% interval over source images (NaN where a column is missing)."""
    rows = []
    for values, group in cells.groupby(by, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        setting = dict(zip(by, values, strict=True))
        clusters = group[CLUSTER].tolist() if CLUSTER in group else list(range(len(group)))
        row = setting | {"role": role(setting), "n": len(group), "images": len(set(clusters))}
        for column in shown:
            if column not in group:
                row[column] = row[f"{column}_lo"] = row[f"{column}_hi"] = math.nan
                continue
            data = group[column].to_numpy(dtype=float)
            finite = data[np.isfinite(data)]
            row[column] = float(finite.mean()) if len(finite) else math.nan
            row[f"{column}_lo"], row[f"{column}_hi"] = cluster_mean_ci(data, clusters)
        rows.append(row)
    return rows


def settings_table(
    cells: pd.DataFrame, axes: list[str], references: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per setting: its axes, role, n, images, and per shown metric its mean and
    a 95% interval over source images; ``frontier`` and ``best`` flags. ``references``
    (a methods run's references.csv) adds its rows after the grid's, flagged
    ``reference``: never best, never on a frontier, the grid's rows unchanged."""
    columns = Columns.of(cells)
    by = setting_axes(cells, axes)
    cells = count_once(cells, axes)  # a deterministic method's seeds: one image
    rows = setting_rows(cells, by, columns.shown)
    table = _one_pretrained_row(pd.DataFrame(rows), by)
    table.attrs["axes"] = by
    x, y = tradeoff_axes(columns)
    table["frontier"] = _per_method(table, lambda part: pareto(part, x, y)) if x and y else False
    if "method" in table:
        table["frontier_overall"] = pareto(table, x, y) if x and y else False
    table["best"] = False
    key = ranking_column(columns)
    candidates = table[table["role"] == ""]
    if key and len(candidates) and candidates[key].notna().any():
        table.loc[candidates[key].idxmax(), "best"] = True
    if references is not None and len(references):
        from .reference_rows import with_reference_rows

        table = with_reference_rows(table, references, axes, columns.shown)
    return table


def _per_method(table: pd.DataFrame, flag) -> pd.Series:
    """``flag`` (a table part -> bool Series) within each method (the whole table if the
    run has one method)."""
    if "method" not in table or table.empty:
        return flag(table)
    parts = [flag(part) for _, part in table.groupby("method", sort=False)]
    return pd.concat(parts).reindex(table.index)


def _one_pretrained_row(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """v = 1 at any K (and K = 1000 at any v) is the same pretrained sample as the
    ``pretrained`` method's: keep one row per combination of the other axes (the
    pretrained method's, else the largest K, then the largest v)."""
    others = [a for a in by if a not in ("v", "K", "method")]
    pretrained = table[table["role"] == PRETRAINED_ONLY]
    if pretrained.empty:
        return table
    keep = pretrained.assign(_own=pretrained.get("method") == "pretrained")
    order = [c for c in ("_own", "K", "v") if c in keep]
    keep = keep.sort_values(order, ascending=False, na_position="last")
    keep = keep.drop_duplicates(others) if others else keep.iloc[:1]
    drop = pretrained.index.difference(keep.index)
    return table.drop(index=drop).reset_index(drop=True)


def ranking_column(columns: Columns) -> str | None:
    """What 'best setting' means: the faithful rate (toy world), else a joint edit score;
    None for a run that has neither (its frontier has no single best point)."""
    return columns.faithful or (columns.scores[0] if columns.scores else None)


def tradeoff_axes(columns: Columns) -> tuple[str | None, str | None]:
    """(fidelity, alignment) columns of the trade-off: the oracle's structure and edit
    success in the toy world, else the fidelity metric and clip_t."""
    if columns.structure and columns.success:
        return columns.structure, columns.success
    return columns.fidelity, columns.alignment


def pareto(table: pd.DataFrame, x: str, y: str) -> pd.Series:
    """True for settings no other setting beats on both axes (each oriented to 'better')."""
    sx = table[x].to_numpy(float) * (1 if higher_is_better(x) else -1)
    sy = table[y].to_numpy(float) * (1 if higher_is_better(y) else -1)
    on = []
    for i in range(len(table)):
        if not (np.isfinite(sx[i]) and np.isfinite(sy[i])):
            on.append(False)
            continue
        beaten = (sx >= sx[i]) & (sy >= sy[i]) & ((sx > sx[i]) | (sy > sy[i]))
        on.append(not bool(beaten.any()))
    return pd.Series(on, index=table.index)


def frontier_lines(table: pd.DataFrame, x: str, y: str) -> dict[str, pd.DataFrame]:
    """Per method ("" for a run of one), its own Pareto frontier on (x, y), sorted by x:
    the lines the trade-off plot overlays."""
    groups = table.groupby("method") if "method" in table else [("", table)]
    return {str(name): part[pareto(part, x, y)].sort_values(x) for name, part in groups}


def plot_tradeoff(table: pd.DataFrame, cells: pd.DataFrame, path) -> bool:
    """Each setting as a point (interval bars), the Pareto frontier joined per method (a
    method's points and line in one colour), the references marked; a second panel with
    the automatic metrics in the toy world."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = Columns.of(cells)
    panels = [tradeoff_axes(columns)]
    if columns.structure and columns.fidelity and columns.alignment:
        panels.append((columns.fidelity, columns.alignment))
    panels = [(x, y) for x, y in panels if x and y]
    if not panels:
        return False
    marked = table  # a methods run's reference rows: marked, never a method's points
    if "reference" in table:
        table = table[~table["reference"].astype(bool)].copy()
        table.attrs = dict(marked.attrs)
    methods = "method" in table
    groups = [(str(n), p) for n, p in table.groupby("method")] if methods else [("", table)]
    colours = {name: f"C{i % 10}" for i, (name, _) in enumerate(groups)}
    labelled = _labelled(table, ranking_column(columns), methods)
    width = 5.2 * len(panels) + (2.0 if methods else 0.0)
    fig, axs = plt.subplots(1, len(panels), figsize=(width, 4.2), squeeze=False)
    for ax, (x, y) in zip(axs[0], panels, strict=True):
        lines = frontier_lines(table, x, y)
        for name, part in groups:
            colour = colours[name]
            _scatter(ax, part, x, y, name, table.attrs["axes"], colour, labelled)
            line = lines[name]
            label = None if methods else "Pareto frontier"  # methods: the colour says it
            ax.plot(line[x], line[y], "-", color=colour, alpha=0.6, label=label)
        _references(ax, marked, x, y)
        ax.set(
            xlabel=f"{x} ({'higher' if higher_is_better(x) else 'lower'} = closer to source)",
            ylabel=y,
        )
        if not methods:
            ax.legend(fontsize=7)
    if methods:
        axs[0][-1].legend(
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            title="lines: each method's\nPareto frontier",
            title_fontsize=7,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _labelled(table: pd.DataFrame, key: str | None, methods: bool) -> set:
    """Rows whose setting the plot names: the best and the references, and the frontier
    (one method) or each method's best setting (methods: a frontier each is too many)."""
    rows = set(table.index[table["best"] | (table["role"] != "")])
    if not methods:
        return rows | set(table.index[table["frontier"]])
    if key:
        for _, part in table.groupby("method"):
            if part[key].notna().any():
                rows.add(part[key].idxmax())
    return rows


def _references(ax, table: pd.DataFrame, x: str, y: str) -> None:
    """The fine-tuned-only and pretrained-only settings, and the best, marked."""
    for label, marker in ((FINE_TUNED_ONLY, "s"), (PRETRAINED_ONLY, "X")):
        ref = table[table["role"] == label]
        ax.scatter(
            ref[x],
            ref[y],
            marker=marker,
            s=110,
            facecolors="none",
            edgecolors="black",
            label=label,
            zorder=5,
        )
    best = table[table["best"]]
    ax.scatter(
        best[x],
        best[y],
        marker="*",
        s=220,
        color="gold",
        edgecolors="black",
        label="best setting",
        zorder=6,
    )


def _scatter(ax, part, x: str, y: str, name: str, axes: list[str], colour, labelled) -> None:
    """Points with faint 95% interval bars; the ``labelled`` rows named by the axes that
    vary among the method's settings ('sdedit strength=0.4')."""
    bars = ax.errorbar(
        part[x],
        part[y],
        xerr=_err(part, x),
        yerr=_err(part, y),
        fmt="o",
        ms=5,
        color=colour,
        label=name or "settings",
        elinewidth=0.6,
    )
    for line in bars[2]:
        line.set_alpha(0.25)
    # what tells this method's settings apart (a method's knob without its prefix)
    short = [a for a in axes if a != "method" and part[a].nunique() > 1]
    short = ["method", *short] if name else short
    for index, row in part.iterrows():
        if index in labelled:
            text = setting_label(row, short)
            ax.annotate(
                text.replace(f"{name}.", "") if name else text,
                (row[x], row[y]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )


def _err(part: pd.DataFrame, column: str):
    lo, hi = part.get(f"{column}_lo"), part.get(f"{column}_hi")
    if lo is None or hi is None:
        return None
    return np.nan_to_num(np.vstack([part[column] - lo, hi - part[column]]), nan=0.0).clip(0)


def setting_label(row: pd.Series, axes: list[str]) -> str:
    """'v=0.2 K=400 64x96' from a settings-table row (axes a method lacks left out:
    'sdedit native guidance=5 sdedit.strength=0.3')."""
    parts = []
    for axis in axes:
        value = row[axis]
        if pd.isna(value):
            continue
        if axis in ("method", "resolution"):
            parts.append(str(value))
        else:
            parts.append(f"{axis}={value:g}" if isinstance(value, float) else f"{axis}={value}")
    return " ".join(parts)
