"""The frontier per source resolution, and the lines ``run`` ends with.

A run whose sources come in several sizes (``source_size`` in the cells table, the
source as loaded) answers "what works at this aspect?" once per size: each size gets its
own settings table (``reference_rows.frontier_table`` on that size's cells, so its best setting
and references are its own), with the share of edits that carry more objects than the
prompt states (``extra_objects``: duplicates and blotches, from oracle_count). Intervals
resample that size's source images.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from ..protocol.fields import hxw
from .cells import metric_column
from .frontier import (
    FINE_TUNED_ONLY,
    PRETRAINED_ONLY,
    Columns,
    ranking_column,
    setting_label,
)
from .reference_rows import frontier_table, is_reference, marked
from .stats import CLUSTER, cluster_mean_ci

SOURCE_SIZE = "source_size"
EXTRA = "extra_objects"


def aspect_label(size: str) -> str:
    """'64x96' -> '64x96 (W:H 3:2)': the source's H x W and its aspect as width:height."""
    h, w = hxw(size)
    ratio = Fraction(w, h)
    return f"{size} (W:H {ratio.numerator}:{ratio.denominator})"


def _images(n: int) -> str:
    return f"{n} source image" + ("" if n == 1 else "s")


def has_sizes(cells: pd.DataFrame) -> bool:
    """True when the run's sources come in more than one size."""
    return SOURCE_SIZE in cells and cells[SOURCE_SIZE].nunique(dropna=True) > 1


def extra_objects(cells: pd.DataFrame) -> pd.Series | None:
    """1.0 where the oracle reads more objects than the prompt states, else 0.0 (NaN for a
    prompt the toy parser cannot read); None without oracle_count."""
    from .duplication import caption_count

    count = metric_column(cells, "oracle_count")
    if count is None:
        return None
    wanted = cells["prompt"].map(caption_count)
    extra = (cells[count] > wanted).astype(float)
    return extra.where(wanted.notna() & cells[count].notna())


def frontiers(
    cells: pd.DataFrame, axes: list[str], references: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """Per source size (ordered by aspect, then area): its settings table (with a
    methods run's ``references`` of that size as reference rows), with the
    extra-object rate and its interval added."""
    extra = extra_objects(cells)
    data = cells if extra is None else cells.assign(**{EXTRA: extra})
    if references is not None and extra is not None:
        references = references.assign(**{EXTRA: extra_objects(references)})
    out = {}
    for size in sorted(data[SOURCE_SIZE].dropna().unique(), key=_order):
        part = data[data[SOURCE_SIZE] == size]
        refs = None if references is None else references[references[SOURCE_SIZE] == size]
        table = frontier_table(part, axes, refs)
        if extra is not None:
            table = _with_extra(table, part, refs)
        out[size] = table
    return out


def _order(size: str) -> tuple[float, int]:
    h, w = hxw(size)
    return (w / h, h * w)


def _with_extra(
    table: pd.DataFrame, part: pd.DataFrame, refs: pd.DataFrame | None = None
) -> pd.DataFrame:
    values, lo, hi = [], [], []
    for _, row in table.iterrows():
        if is_reference(row):  # a reference row's cells are its references.csv rows
            cells, by = refs, table.attrs["reference_axes"]
        else:
            cells, by = part, table.attrs.get("grid_axes", table.attrs["axes"])
        mask = pd.Series(True, index=cells.index)
        for axis in by:
            mask &= cells[axis].isna() if pd.isna(row[axis]) else cells[axis] == row[axis]
        group = cells[mask]
        data = group[EXTRA].to_numpy(dtype=float)
        clusters = group[CLUSTER].tolist() if CLUSTER in group else list(range(len(group)))
        finite = data[np.isfinite(data)]
        values.append(float(finite.mean()) if len(finite) else math.nan)
        low, high = cluster_mean_ci(data, clusters)
        lo.append(low)
        hi.append(high)
    out = table.assign(**{EXTRA: values, f"{EXTRA}_lo": lo, f"{EXTRA}_hi": hi})
    out.attrs = table.attrs
    return out


def shown_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows a per-size frontier shows: the best setting, the references, each
    method's best and every Pareto-frontier setting, best first."""
    columns = _columns(table)
    key = ranking_column(columns)
    keep = table["best"] | (table["role"] != "") | table["frontier"]
    if key and "method" in table:
        grid = table[~table.apply(is_reference, axis=1)] if len(table) else table
        for _, part in grid.groupby("method"):
            if part[key].notna().any():
                keep.loc[part[key].idxmax()] = True
    rows = table[keep]
    return rows.sort_values(key, ascending=False) if key else rows


def _columns(table: pd.DataFrame) -> Columns:
    return Columns.of(table[[c for c in table.columns if not c.endswith(("_lo", "_hi"))]])


def _fmt(row: pd.Series, column: str) -> str:
    value = row.get(column)
    if value is None or pd.isna(value):
        return "-"
    lo, hi = row.get(f"{column}_lo"), row.get(f"{column}_hi")
    return f"{value:.2f}" + ("" if lo is None or pd.isna(lo) else f" [{lo:.2f}, {hi:.2f}]")


def to_markdown(tables: dict[str, pd.DataFrame]) -> str:
    """summary/resolution.md: one frontier table per source size."""
    lines = [
        "# The frontier per source resolution",
        "",
        "Per source size (H x W as loaded): the best setting (by the faithful rate, else the "
        "joint score), each method's best, the Pareto frontier and the two references; "
        "mean and 95% interval over that size's source images. extra_objects: share of "
        "edits with more objects than the prompt states (duplicates, blotches).",
    ]
    for size, table in tables.items():
        columns = _columns(table)
        shown = [c for c in (*columns.shown, EXTRA) if c in table]
        axes = table.attrs["axes"]
        images = int(table["images"].max()) if len(table) else 0
        lines += ["", f"## {aspect_label(size)}: {_images(images)}", ""]
        lines.append("| | setting | role | n | " + " | ".join(shown) + " |")
        lines.append("|---|---|---|---|" + "---|" * len(shown))
        for _, row in shown_rows(table).iterrows():
            mark = "best" if row["best"] else ("frontier" if row["frontier"] else "")
            cells = [mark, setting_label(row, axes), marked(row["role"], row), str(int(row["n"]))]
            lines.append("| " + " | ".join(cells + [_fmt(row, c) for c in shown]) + " |")
    return "\n".join(lines) + "\n"


def to_csv(tables: dict[str, pd.DataFrame]) -> str:
    parts = [t.assign(**{SOURCE_SIZE: size}) for size, t in tables.items()]
    return pd.concat(parts, ignore_index=True).to_csv(index=False) if parts else ""


def terminal_lines(table: pd.DataFrame) -> list[str]:
    """The best setting and the two references, each with the ranking metric, its
    interval and the trade-off pair (structure and edit success in the toy world)."""
    columns = _columns(table)
    key = ranking_column(columns)
    if key is None or table.empty:
        return []
    axes = table.attrs["axes"]
    pair = [c for c in (columns.structure, columns.success) if c] or [
        c for c in (columns.alignment, columns.fidelity) if c
    ]
    lines = []
    picks = [("best setting", table[table["best"]])]
    picks += [(role, table[table["role"] == role]) for role in (FINE_TUNED_ONLY, PRETRAINED_ONLY)]
    for name, rows in picks:
        if rows.empty:
            lines.append(f"  {name:16s} (not in this grid)")
            continue
        row = rows.sort_values(key, ascending=False).iloc[0]
        rest = ", ".join(f"{c} {row[c]:.2f}" for c in pair if pd.notna(row[c]))
        setting = setting_label(row, axes) or "-"
        rest = f" ({rest})" if rest else ""
        if is_reference(row):  # a methods run's reference row: not a grid setting
            setting += " [reference, not a grid setting]"
        lines.append(f"  {name:16s} {setting}: {key} {_fmt(row, key)}{rest}")
    return lines


def _read(path: Path, axes: list[str]) -> pd.DataFrame:
    # object: a table without reference rows has an empty (float) role column
    table = pd.read_csv(path, dtype={"role": object}).fillna({"role": ""})
    table.attrs["axes"] = [a for a in table.columns if a in axes or a == "method"]
    return table


def run_summary_lines(run_dir: Path, axes: list[str]) -> list[str]:
    """What ``run`` prints last: the frontier's best setting and the two references,
    then the best setting per source size (runs whose sources come in several sizes)."""
    if not (run_dir / "frontier.csv").is_file():
        return []
    table = _read(run_dir / "frontier.csv", axes)
    lines = terminal_lines(table)
    if not lines:
        return []
    lines = [f"frontier ({_images(int(table['images'].max()))}):", *lines]
    per_size = run_dir / "summary" / "resolution_frontier.csv"
    if per_size.is_file():
        sizes = _read(per_size, axes)
        lines.append("per source size (summary/resolution.md):")
        for size, part in sizes.groupby(SOURCE_SIZE, sort=False):
            part.attrs = sizes.attrs
            best = terminal_lines(part.reset_index(drop=True))[:1]
            text = best[0].strip().removeprefix("best setting").strip() if best else "-"
            lines.append(f"  {aspect_label(str(size)):22s} best {text}")
    return lines


def html_section(run_dir: Path, axes: list[str]) -> str:
    """The report's per-size frontier (empty when the sources share one size)."""
    import html

    path = run_dir / "summary" / "resolution_frontier.csv"
    if not path.is_file():
        return ""
    sizes = _read(path, axes)
    parts = [
        "<h2>The frontier per source resolution</h2>",
        "<p class=small>Each source size on its own (summary/resolution.md): its best "
        "setting, each method's best, the Pareto frontier and the references; intervals "
        "resample that size's source images. extra_objects = share of edits with more "
        "objects than the prompt states.</p>",
    ]
    for size, part in sizes.groupby(SOURCE_SIZE, sort=False):
        part = part.reset_index(drop=True)
        part.attrs = sizes.attrs
        shown = [c for c in (*_columns(part).shown, EXTRA) if c in part]
        head = ["", "setting", "role", "n", *shown]
        rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
        for _, row in shown_rows(part).iterrows():
            cls = " class=best" if row["best"] else (" class=ref" if row["role"] else "")
            mark = "&#9733; best" if row["best"] else ("frontier" if row["frontier"] else "")
            cells = [mark, html.escape(setting_label(row, part.attrs["axes"]))]
            cells += [html.escape(marked(row["role"], row)), str(int(row["n"]))]
            cells += [_fmt(row, c) for c in shown]
            rows.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        images = int(part["images"].max())
        parts.append(f"<h3>{html.escape(aspect_label(str(size)))}: {_images(images)}</h3>")
        parts.append(f"<div class=wide><table class=frontier>{''.join(rows)}</table></div>")
    return "\n".join(parts)
