"""edit_score on a wider toy world (issue 21, item 5; protocols/edit-score-wide.yaml).

Usage: python scripts/edit-score-wide.py runs/edit-score-wide [--out results/edit-score/wide]
       [--paper-toy results/reference/paper-baselines/cells.csv]

The analysis the protocol fixed before its run: AUROC of edit_score for oracle_faithful,
each edit counted once, with intervals over source images, on all cells, per seed range,
per kind of scene, per kind of edit (descriptive) and within each method; the share of
faithful edits scoring below 1.1; the per-setting Spearman with the faithful rate; each
method's best setting by the score against the oracle's. Beside it the same numbers on
paper-baselines' committed cells at exactly the run's method settings and seeds.
Writes wide.md, subgroups.csv, settings.csv and best.csv.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from sine_bench.report.score_subgroups import (
    best_settings,
    once_per_edit,
    score_column,
    setting_rank_table,
    subgroup_table,
)
from sine_bench.report.score_validity import setting_columns

COMPARED = ("clip_t[toy]", "st_lpips[alex]")
ITEM = re.compile(r"s(\d+)-(.+)")
EDITS = ("background", "object colour", "shape")  # prompt 0, 1, 2 of every item


def _read(path: Path) -> pd.DataFrame:
    path = path / "cells.csv" if path.is_dir() else path
    if not path.is_file():
        raise SystemExit(f"error: {path}: no cells table")
    return pd.read_csv(path)


def _same_settings(paper: pd.DataFrame, wide: pd.DataFrame) -> pd.DataFrame:
    """paper-baselines' cells at exactly the wide run's method settings and seeds."""
    axes = [a for a in setting_columns(wide) if a in paper]

    def label(cells: pd.DataFrame) -> pd.Series:
        return cells[axes].apply(lambda col: col.map(str)).agg(" | ".join, axis=1)

    keep = label(paper).isin(set(label(wide))) & paper["seed"].isin(set(wide["seed"]))
    return paper[keep.to_numpy()]


def _groups(cells: pd.DataFrame, prefix: str) -> dict[str, pd.Series]:
    """All cells, each seed range and kind (wide items are named s<seed>-<kind>), each method."""
    groups = {f"{prefix}: all": pd.Series(True, index=cells.index)}
    parsed = cells["item"].astype(str).str.extract(ITEM)
    if parsed[0].notna().all():
        ranges = parsed[0].astype(int) // 10_000_000 * 10
        for r in sorted(ranges.unique()):
            groups[f"{prefix}: seeds {r} M+"] = ranges == r
        for kind in ("plain", "same-shape", "three", "striped"):
            groups[f"{prefix}: {kind}"] = parsed[1] == kind
    for index, edit in enumerate(EDITS):  # paper-toy's edits, in its order
        groups[f"{prefix}: {edit} edits"] = cells["prompt_index"] == index
    for method in sorted(cells["method"].dropna().unique()):
        groups[f"{prefix}: {method}"] = cells["method"] == method
    return groups


def _kind_by_method(cells: pd.DataFrame) -> dict[str, pd.Series]:
    parsed = cells["item"].astype(str).str.extract(ITEM)
    groups = {}
    for method in sorted(cells["method"].dropna().unique()):
        for kind in ("plain", "same-shape", "three", "striped"):
            groups[f"{method} / {kind}"] = (cells["method"] == method) & (parsed[1] == kind)
    return groups


def _ci(row: pd.Series, column: str) -> str:
    value = row.get(column, np.nan)
    if not np.isfinite(value):
        return "-"
    lo, hi = row.get(f"{column} lo", np.nan), row.get(f"{column} hi", np.nan)
    return f"{value:.2f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else f"{value:.2f}"


def _subgroup_md(table: pd.DataFrame, score: str) -> list[str]:
    lines = [
        f"| scope | edits | images | faithful | {score} AUROC | clip_t AUROC | "
        "st_lpips AUROC | faithful edits below 1.1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| {r['scope']} | {r['edits']} | {r['images']} | {r['faithful']:.2f} | "
            f"{_ci(r, f'auroc {score}')} | {_ci(r, f'auroc {COMPARED[0]}')} | "
            f"{_ci(r, f'auroc {COMPARED[1]}')} | {_ci(r, 'faithful below')} |"
        )
    return lines


def _settings_md(table: pd.DataFrame) -> list[str]:
    lines = ["| scope | settings | Spearman (mean score vs faithful rate) |", "|---|---|---|"]
    for _, r in table.iterrows():
        ci = f" [{r['lo']:.2f}, {r['hi']:.2f}]" if np.isfinite(r["lo"]) else ""
        lines.append(f"| {r['scope']} | {r['settings']} | {r['value']:.2f}{ci} |")
    return lines


def _best_md(table: pd.DataFrame) -> list[str]:
    lines = [
        "| scope | method | best by score (its faithful rate) | best by oracle (rate) |",
        "|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        oracle_rate = r["oracle's best rate"]
        lines.append(
            f"| {r['scope']} | {r['method']} | {r['best by score']} "
            f"({r['its faithful rate']:.2f}) | {r['best by oracle']} ({oracle_rate:.2f}) |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/edit-score/wide"))
    parser.add_argument(
        "--paper-toy", type=Path, default=Path("results/reference/paper-baselines/cells.csv")
    )
    args = parser.parse_args()
    wide = _read(args.run)
    paper = _read(args.paper_toy)
    paper = _same_settings(paper, wide)
    score = score_column(wide)
    subgroups = pd.concat(
        [
            subgroup_table(wide, _groups(wide, "wide"), COMPARED),
            subgroup_table(paper, _groups(paper, "paper-toy"), COMPARED),
        ],
        ignore_index=True,
    )
    by_kind = subgroup_table(wide, _kind_by_method(wide), COMPARED)
    settings = pd.concat(
        [
            setting_rank_table(wide, _groups(wide, "wide")),
            setting_rank_table(paper, _groups(paper, "paper-toy")),
        ],
        ignore_index=True,
    )
    best = pd.concat(
        [best_settings(wide).assign(scope="wide"), best_settings(paper).assign(scope="paper-toy")],
        ignore_index=True,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    pd.concat([subgroups, by_kind], ignore_index=True).to_csv(
        args.out / "subgroups.csv", index=False
    )
    settings.to_csv(args.out / "settings.csv", index=False)
    best.to_csv(args.out / "best.csv", index=False)
    once = once_per_edit(wide)
    lines = [
        "# edit_score on a wider toy world (protocols/edit-score-wide.yaml, run once)",
        "",
        f"Run: `{args.run}`, {len(wide)} cells, {len(once)} edits once each "
        f"({once['item'].nunique()} scenes); comparison: `{args.paper_toy}` "
        f"at the same method settings and seeds ({len(once_per_edit(paper))} edits). "
        "AUROC for oracle_faithful = 1, 95% intervals resampling source images.",
        "",
        "## Per cell",
        "",
        *_subgroup_md(subgroups, score),
        "",
        "## Per kind of scene within each method",
        "",
        *_subgroup_md(by_kind, score),
        "",
        "## Per setting",
        "",
        *_settings_md(settings),
        "",
        "## Each method's best setting",
        "",
        *_best_md(best),
        "",
    ]
    (args.out / "wide.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
