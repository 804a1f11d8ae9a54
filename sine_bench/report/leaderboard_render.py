"""The leaderboard as markdown, HTML and CSV: the same rows in each, 'mean [lo, hi]'
per metric (95% interval over source images), the runs it read and what sets them apart."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from ..fileio import write_atomic
from ..metrics.families import family_record
from .leaderboard import Leaderboard, paper_factor

_IDENT = ["run", "dataset", "method", "setting", "n", "images"]


def _header(metric: str, scaled: bool) -> str:
    record = family_record(metric)
    arrow = {"higher": " ↑", "lower": " ↓"}.get(record.direction if record else None, "")
    factor = paper_factor(metric) if scaled else 1.0
    return metric + arrow + (f" (x10^{round(math.log10(factor))})" if factor != 1.0 else "")


def _value(row: pd.Series, metric: str) -> str:
    mean, lo, hi = row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"]
    if pd.isna(mean):
        return "-"
    if pd.isna(lo):
        return f"{mean:.4g}"
    return f"{mean:.4g} [{lo:.4g}, {hi:.4g}]"


def _table(rows: pd.DataFrame, lead: list[str], board: Leaderboard) -> list[list[str]]:
    """Header, then one list of cell texts per row."""
    out = [[*lead, *_IDENT, *(_header(m, board.scaled) for m in board.metrics)]]
    for _, row in rows.iterrows():
        out.append(
            [str(row[c]) for c in [*lead, *_IDENT]] + [_value(row, m) for m in board.metrics]
        )
    return out


def _caption(board: Leaderboard) -> list[str]:
    record = family_record(board.rank)
    better = "lower" if record is not None and record.direction == "lower" else "higher"
    shown = "every setting, the best marked" if board.per_setting else "its best setting"
    lines = [
        f"Per run and method, {shown} by mean {board.rank} ({better} is better); each metric "
        "as mean [95% interval resampling source images]. Best settings are chosen on the "
        "same cells they are reported on (optimistic for every method alike)."
    ]
    if board.scaled:
        lines.append(
            "Scaled as PIE-Bench's tables: structure distance x10^3, LPIPS x10^3, MSE x10^4, "
            "SSIM x10^2 (the PIE-Bench metric families only)."
        )
    return lines


def _runs_table(board: Leaderboard) -> list[list[str]]:
    out = [["dataset", "run", "folder", "images", "dataset sha256", "protocol", "scoring"]]
    out[0] += ["limited", "model"]
    for run in board.runs:
        limited = f"{run.limit['items']} of {run.limit['of']} items" if run.limit else "no"
        out.append(
            [
                run.group,
                run.label,
                str(run.folder),
                str(run.items),
                (run.dataset_hash or "unknown")[:16],
                run.protocol_hash or "unknown",
                run.scoring_hash or "unknown",
                limited,
                run.model,
            ]
        )
    return out


def _md(table: list[list[str]]) -> list[str]:
    cells = [[c.replace("|", "\\|") for c in row] for row in table]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    return lines + ["| " + " | ".join(row) + " |" for row in cells[1:]]


def to_markdown(board: Leaderboard) -> str:
    """The leaderboard, its caption, the notes on runs that differ, the runs read and,
    for datasets with edit types, the breakdown per type."""
    lines = ["# Leaderboard", "", *_caption(board), ""]
    lines += [f"- **note:** {note}" for note in board.notes] + ([""] if board.notes else [])
    lines += _md(_table(board.rows, [], board)) + ["", "## Runs", ""]
    lines += _md(_runs_table(board))
    if board.by_type is not None:
        lines += ["", "## Per edit type", ""]
        lines += _md(_table(board.by_type, ["edit_type"], board))
    return "\n".join(lines) + "\n"


def _html_table(table: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table[1:]
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def to_html(board: Leaderboard) -> str:
    """The same content as ``to_markdown``, as one self-contained page."""
    from .html import STYLE

    parts = [f"<!doctype html><meta charset=utf-8><title>leaderboard</title><style>{STYLE}</style>"]
    parts.append("<h1>Leaderboard</h1>")
    parts += [f"<p class=note>{html.escape(line)}</p>" for line in _caption(board)]
    if board.notes:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in board.notes)
        parts.append(f"<ul class=warn>{notes}</ul>")
    parts.append(f"<div class=wide>{_html_table(_table(board.rows, [], board))}</div>")
    parts.append(f"<h2>Runs</h2><div class=wide>{_html_table(_runs_table(board))}</div>")
    if board.by_type is not None:
        table = _html_table(_table(board.by_type, ["edit_type"], board))
        parts.append(f"<h2>Per edit type</h2><div class=wide>{table}</div>")
    return "\n".join(parts) + "\n"


def write_leaderboard(board: Leaderboard, out: Path) -> list[Path]:
    """leaderboard.md, .html and .csv (the rows' numbers, per edit type in a second CSV
    when there are types) in ``out``, each written atomically."""
    written = {
        out / "leaderboard.md": to_markdown(board),
        out / "leaderboard.html": to_html(board),
        out / "leaderboard.csv": board.rows.to_csv(index=False),
    }
    if board.by_type is not None:
        written[out / "leaderboard_by_type.csv"] = board.by_type.to_csv(index=False)
    for path, text in written.items():
        write_atomic(path, text)
    return list(written)
