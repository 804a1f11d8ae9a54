"""report.html: one self-contained page a person can read.

Sections: the frontier (what the edits do, per setting, against the fine-tuned-only and
pretrained-only references), what ran (manifest), image grids (source, then edits
across v and K for each item, prompt, resolution and seed), the plots, the summary
tables, the cells. Images are inlined as thumbnails that link to the full-size files of
the run directory.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from ..fileio import write_atomic
from .frontier_html import frontier_section
from .reference_rows import read_references
from .resolution import html_section as resolution_section
from .thumbs import inline, thumb

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
h3{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:center}
th{background:#f3f3f3}
img.cell{image-rendering:pixelated;height:112px;width:auto;display:block}
img.plot{max-width:100%;border:1px solid #eee;margin:4px 0}
.meta td{text-align:left}.small{font-size:11px;color:#666;margin:2px 0}
.grids{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.grids>div{max-width:560px}
.wide{overflow-x:auto}.wide td{white-space:nowrap}
.warn li{color:#8a4b00}
.note{max-width:1000px;font-size:13px}
.frontier-wrap{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
table.frontier tr.best td{background:#fff4c2;font-weight:600}
table.frontier tr.ref td{background:#eef3fa}
table.row td.prompt{text-align:left;max-width:220px;white-space:normal}
"""


def grid_axes_for_images(cells: pd.DataFrame, axes: list[str]) -> tuple[str, str]:
    """Rows and columns of the image grids: v and K, unless other axes are the ones
    swept (then the first two swept axes, e.g. fine-tune method x resolution)."""
    swept = [a for a in axes if cells[a].nunique() > 1]
    ordered = [a for a in ("v", "K") if a in swept] + [a for a in swept if a not in ("v", "K")]
    ordered += [a for a in ("v", "K", *axes) if a not in ordered and a in axes]
    return ordered[0], ordered[1]


def _grids(cells: pd.DataFrame, run_dir: Path, axes: list[str]) -> str:
    row_axis, col_axis = grid_axes_for_images(cells, axes)
    others = [a for a in axes if a not in (row_axis, col_axis)]
    parts = []
    for item, item_cells in cells.groupby("item", sort=True):
        source = run_dir / "images" / "source" / f"{item}.png"
        parts.append(f"<h3>{html.escape(str(item))}</h3><div class=grids>")
        parts.append(
            f"<div><p class=small>source</p><table><tr><td>{thumb(source, run_dir)}</td></tr>"
        )
        parts.append("</table></div>")
        keys = ["prompt_index", "prompt", *others]
        # with several methods, their axes mix numbers and '-': keep the table's order
        for values, group in item_cells.groupby(keys, sort="method" not in axes):
            label = ", ".join(f"{k}={v}" for k, v in zip(keys[1:], values[1:], strict=True))
            cols = _sorted(group[col_axis].unique())
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
            rows = [f"<tr><th>{row_axis} \\ {col_axis}</th>{head}</tr>"]
            for r in _sorted(group[row_axis].unique()):
                tds = []
                for c in cols:
                    match = group[(group[row_axis] == r) & (group[col_axis] == c)]
                    title = f"{row_axis}={r} {col_axis}={c}"
                    tds.append(
                        f"<td>{thumb(run_dir / match.iloc[0]['image'], run_dir, title)}</td>"
                        if len(match)
                        else "<td></td>"
                    )
                rows.append(f"<tr><th>{html.escape(str(r))}</th>{''.join(tds)}</tr>")
            parts.append(
                f"<div><p class=small>{html.escape(label)}</p><table>{''.join(rows)}</table></div>"
            )
        parts.append("</div>")
    return "\n".join(parts)


def _sorted(values) -> list:
    """Numbers in order, then the '-' of axes a method does not have (several methods)."""
    return sorted(values, key=lambda v: (isinstance(v, str), 0 if isinstance(v, str) else v))


def _manifest_table(manifest: dict) -> str:
    rows = [
        ("protocol", manifest.get("protocol")),
        ("git commit", manifest.get("git_commit")),
        ("sine-bench / method", f"{manifest.get('sine_bench')} / {manifest.get('method_version')}"),
        ("model", json.dumps(manifest.get("model_identity"))),
        ("device", json.dumps(manifest.get("device"))),
        ("cells", manifest.get("cells")),
        ("UNet evaluations", json.dumps(manifest.get("unet_evaluations"))),
    ]
    for stage, stats in manifest.get("stages", {}).items():
        rows.append(
            (
                f"stage {stage}",
                f"{stats['total']} jobs, {stats['cached']} cached, {stats['computed']} computed, "
                f"{stats['seconds']:.1f} s",
            )
        )
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table class=meta>{body}</table>"


def _warnings_html(warnings: list[str]) -> str:
    """The validation pass's warnings (e.g. prompts the text encoder cuts short)."""
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(str(w))}</li>" for w in warnings)
    return f"<h2>Warnings ({len(warnings)})</h2><ul class=warn>{items}</ul>"


def _notes_html(notes: list[str]) -> str:
    """The run's notes (a score run: metrics omitted, or empty on some edits)."""
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
    return f"<h2>Notes ({len(notes)})</h2><ul>{items}</ul>"


def _summary_html(table: pd.DataFrame) -> str:
    """'mean [lo, hi]' per metric, like the Markdown summaries."""
    metrics = [c for c in table.columns if f"{c}_lo" in table.columns]
    keep = [c for c in table.columns if c not in metrics and not c.endswith(("_lo", "_hi"))]
    shown = table[keep].copy()
    for m in metrics:
        shown[m] = [
            "-" if pd.isna(x) else f"{x:.4g} [{lo:.4g}, {hi:.4g}]"
            for x, lo, hi in zip(table[m], table[f"{m}_lo"], table[f"{m}_hi"], strict=True)
        ]
    return shown.to_html(index=False, border=0)


def write_report(run_dir: Path) -> Path:
    """Render report.html from the files of a run directory (cells, summaries, plots)."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    cells = pd.read_parquet(run_dir / "cells.parquet")
    axes = manifest["axes"]
    grid_cells = cells
    if "method" in axes:  # a method's cells leave the other methods' axes empty
        shown_axes = cells[axes].astype(object)
        grid_cells = cells.assign(
            **{a: shown_axes[a].where(shown_axes[a].notna(), "-") for a in axes}
        )
    rows, cols = grid_axes_for_images(grid_cells, axes)
    plots = sorted((run_dir / "plots").glob("*.png"))
    summaries = sorted((run_dir / "summary").glob("*.csv"))
    parts = [
        "<!doctype html><html><head><meta charset=utf-8>",
        f"<title>sine-bench: {html.escape(manifest['protocol'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>sine-bench run: {html.escape(manifest['protocol'])}</h1>",
        frontier_section(cells, axes, run_dir, read_references(run_dir)),
        resolution_section(run_dir, axes),
        "<h2>What ran</h2>",
        _manifest_table(manifest),
        _warnings_html(manifest.get("warnings") or []),
        _notes_html(manifest.get("notes") or []),
        f"<h2>Edits across {rows} (rows) and {cols} (columns)</h2>",
        _grids(grid_cells, run_dir, axes),
        "<h2>Plots</h2>",
        *(f"<h3>{p.stem}</h3>{inline(p)}" for p in plots if p.stem != "frontier"),
        "<h2>Summaries (mean, 95% interval over source images)</h2>",
    ]
    for path in summaries:
        parts.append(f"<h3>by {html.escape(path.stem)}</h3>")
        parts.append(f"<div class=wide>{_summary_html(pd.read_csv(path))}</div>")
    shown = cells.drop(columns=["finetune_key", "edit_key", "image"], errors="ignore")
    parts += [
        "<h2>Cells</h2><div class=wide>",
        shown.to_html(index=False, float_format=lambda x: f"{x:.4g}", border=0, na_rep="-"),
        "</div>",
        "</body></html>",
    ]
    out = run_dir / "report.html"
    write_atomic(out, "\n".join(parts))
    return out
