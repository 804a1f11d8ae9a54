"""The section report.html opens with: the frontier table, the trade-off plot, and per
source image the source beside the fine-tuned-only, best and pretrained-only edits."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..metrics.families import family_record
from .frontier import (
    FINE_TUNED_ONLY,
    PRETRAINED_ONLY,
    Columns,
    ranking_column,
    setting_label,
)
from .reference_rows import REFERENCES_FILE, frontier_table, is_reference, marked
from .thumbs import inline, thumb

TOY_NOTE = (
    "<b>faithful</b> = the edit changed what the prompt asks <i>and</i> kept this image: "
    "the edited attributes right, every source object in place, nothing added (toy oracle, "
    "docs/metrics.md). A high edit success with a low structure is a regeneration of the "
    "scene, not an edit."
)
REAL_NOTE = (
    "No oracle for these images: text alignment and fidelity to the source side by side. "
    "The Pareto frontier marks the settings no other setting beats on both."
)
MISSING_REFERENCES = (
    "This grid has no {what} setting: add it (v = 0 with K = 0 for the fine-tuned model "
    "alone, v = 1 for the pretrained model alone) to read the frontier against it."
)
COMPUTED_NOT_SCORED = (
    "This grid has no fine-tuned only setting. SINE's fine-tuned-only samples (v = 0, "
    "K = 0) were computed, as {why}, but only a grid setting is scored as a row: add v = 0 "
    "with K = 0 to {grid} grid for such a row (its own edits: the cell's key holds the edit "
    "prompt, so the samples above are not reused)."
)
REFERENCE_ROWS = (
    "The {role} rows are references, not grid settings: {what}, computed for {why} and "
    "scored with the run's cell metrics as a grid cell would be ({file}; never the best, "
    "never on a frontier, not in cells.csv or summary.json)."
)
REFERENCE_WHAT = {
    FINE_TUNED_ONLY: "SINE's fine-tuned-only samples (v = 0, K = 0: its training prompt, "
    "the edit prompt never enters)",
    PRETRAINED_ONLY: "the pretrained model's samples of each target prompt",
}


def _fmt(value: float, lo: float, hi: float) -> str:
    if pd.isna(value):
        return "-"
    interval = "" if pd.isna(lo) else f" [{lo:.3g}, {hi:.3g}]"
    return f"{value:.3g}{interval}"


def _table_html(table: pd.DataFrame, columns: Columns) -> str:
    axes = table.attrs["axes"]
    key = ranking_column(columns) or columns.alignment
    ordered = table.sort_values(key, ascending=False) if key else table
    overall = "frontier_overall" in table  # a methods run: each method's own frontier too
    pareto = ["Pareto (its method)", "Pareto (all)"] if overall else ["Pareto"]
    head = ["", "setting", "role", "n", "images", *columns.shown, *pareto]
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for _, row in ordered.iterrows():
        mark = "&#9733; best" if row["best"] else ""
        cls = " class=best" if row["best"] else (" class=ref" if row["role"] else "")
        cells = [mark, html.escape(setting_label(row, axes)), html.escape(marked(row["role"], row))]
        cells += [str(int(row["n"])), str(int(row["images"]))]
        cells += [_fmt(row[c], row[f"{c}_lo"], row[f"{c}_hi"]) for c in columns.shown]
        cells.append("&#10003;" if row["frontier"] else "")
        if overall:
            cells.append("&#10003;" if row["frontier_overall"] else "")
        rows.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table class=frontier>{''.join(rows)}</table>"


def _pick(table: pd.DataFrame, role: str, like: pd.Series | None) -> pd.Series | None:
    """A setting of ``role``, the one sharing most axis values with ``like``."""
    rows = table[table["role"] == role]
    if rows.empty:
        return None
    if like is None:
        return rows.iloc[0]
    axes = [a for a in table.attrs["axes"] if a not in ("v", "K")]
    shared = rows.apply(lambda r: sum(r[a] == like[a] for a in axes), axis=1)
    return rows.loc[shared.idxmax()]


def _cell_of(cells: pd.DataFrame, setting: pd.Series, axes: list[str]) -> pd.DataFrame:
    mask = pd.Series(True, index=cells.index)
    for axis in axes:
        value = setting[axis]
        mask &= cells[axis].isna() if pd.isna(value) else cells[axis] == value
    return cells[mask]


def _image_rows(
    cells: pd.DataFrame, table: pd.DataFrame, run_dir: Path, columns, references=None
) -> str:
    """Per source image and prompt (first seed): source | fine-tuned only | best (or the
    frontier) | pretrained only; a reference row's images are its references.csv rows."""
    axes = table.attrs["axes"]
    grid_axes = table.attrs.get("grid_axes", axes)
    best = table[table["best"]]
    middle = [best.iloc[0]] if len(best) else [r for _, r in table[table["frontier"]].iterrows()]
    like = middle[0] if middle else None
    picks = [
        (FINE_TUNED_ONLY, _pick(table, FINE_TUNED_ONLY, like)),
        *[("best setting" if len(best) else "Pareto frontier", m) for m in middle[:3]],
        (PRETRAINED_ONLY, _pick(table, PRETRAINED_ONLY, like)),
    ]
    picks = [(marked(name, s), s) for name, s in picks if s is not None]
    head = "<tr><th>source</th>" + "".join(
        f"<th>{html.escape(n)}<br><span class=small>{html.escape(setting_label(s, axes))}"
        "</span></th>"
        for n, s in picks
    )
    rows = [head + "</tr>"]
    seed = cells["seed"].min() if "seed" in cells else None
    for (item, prompt), _group in cells.groupby(["item", "prompt"], sort=True):
        source = run_dir / "images" / "source" / f"{item}.png"
        tds = [
            f"<td class=prompt>{thumb(source, run_dir, str(item))}<p class=small>"
            f"<b>{html.escape(str(item))}</b><br>to: {html.escape(str(prompt))}</p></td>"
        ]
        for _, setting in picks:
            if is_reference(setting):
                match = _cell_of(references, setting, table.attrs["reference_axes"])
            else:
                match = _cell_of(cells, setting, grid_axes)
            match = match[(match["item"] == item) & (match["prompt"] == prompt)]
            if seed is not None:
                match = match[match["seed"] == seed]
            if match.empty:
                tds.append("<td></td>")
                continue
            cell = match.iloc[0]
            note = _verdict(cell, columns)
            tds.append(
                f"<td>{thumb(run_dir / cell['image'], run_dir, str(cell['prompt']))}"
                f"<p class=small>{note}</p></td>"
            )
        rows.append(f"<tr>{''.join(tds)}</tr>")
    return f"<table class=row>{''.join(rows)}</table>"


def _verdict(cell: pd.Series, columns: Columns) -> str:
    if columns.faithful and pd.notna(cell[columns.faithful]):
        ok = cell[columns.faithful] >= 1
        parts = ["faithful" if ok else "not faithful"]
        if columns.structure and pd.notna(cell[columns.structure]):
            parts.append(f"structure {cell[columns.structure]:.2f}")
        return html.escape(", ".join(parts))
    parts = [f"{c} {cell[c]:.3g}" for c in (columns.alignment, columns.fidelity) if c]
    return html.escape(", ".join(parts))


def _computed_for(cells: pd.DataFrame, role: str = FINE_TUNED_ONLY) -> str | None:
    """Why the run computed the references of ``role`` without a grid setting for them
    (a metric's needs: edit_score's anchors, SINE's memorized sample, editability_gap's
    reference), or None."""
    needs: dict[str, str] = {}
    for column in cells.columns:
        record = family_record(column)
        for need in record.needs if record else ():
            needs.setdefault(need, column)
    if "anchors" in needs:
        return f"{needs['anchors']}'s anchors"
    if role == PRETRAINED_ONLY:
        return f"{needs['reference']}'s reference" if "reference" in needs else None
    sine = "method" not in cells or (cells["method"] == "sine").any()
    if "memorized" in needs and sine:
        return f"{needs['memorized']}'s memorized samples"
    return None


def frontier_section(
    cells: pd.DataFrame, axes: list[str], run_dir: Path, references: pd.DataFrame | None = None
) -> str:
    """The report's first section (empty string when no metric can rank settings);
    ``references``: a methods run's references.csv (its reference rows)."""
    columns = Columns.of(cells)
    if not columns.shown:
        return ""
    table = frontier_table(cells, axes, references)
    notes = [TOY_NOTE if columns.faithful else REAL_NOTE]
    for role in (FINE_TUNED_ONLY, PRETRAINED_ONLY):
        rows = table[table["role"] == role]
        if len(rows) and all(is_reference(r) for _, r in rows.iterrows()):
            why = _computed_for(cells, role) or "the metrics that compare an edit with it"
            what = REFERENCE_WHAT[role]
            notes.append(REFERENCE_ROWS.format(role=role, what=what, why=why, file=REFERENCES_FILE))
        if not (table["role"] == role).any():
            why = _computed_for(cells) if role == FINE_TUNED_ONLY else None
            grid = "the sine method's" if "method" in cells else "the"
            text = COMPUTED_NOT_SCORED.format(why=why, grid=grid) if why else None
            notes.append(text or MISSING_REFERENCES.format(what=role))
    plot = run_dir / "plots" / "frontier.png"
    parts = [
        "<h2>What the edits do: the frontier</h2>",
        *(f"<p class=note>{n}</p>" for n in notes),
        "<p class=small>Per setting (seeds pooled): mean and 95% interval over source images. "
        "&#9733; = the best setting by "
        f"{html.escape(ranking_column(columns) or 'none (no oracle, no joint score)')}.</p>",
        "<div class=frontier-wrap>",
        f"<div class=wide>{_table_html(table, columns)}</div>",
        f"<div>{inline(plot)}</div>" if plot.exists() else "",
        "</div>",
        "<h3>Per source image: the references beside the best setting</h3>",
        f"<div class=wide>{_image_rows(cells, table, run_dir, columns, references)}</div>",
    ]
    return "\n".join(parts)
