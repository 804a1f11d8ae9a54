"""``sine-bench leaderboard``: one table across finished runs and their methods.

Per (run, method) the best setting (or, with ``per_setting``, every setting), each
metric's mean and a 95% interval that resamples source images (``stats``), computed
within the row's run. Runs are put side by side only as what they are: each carries its
dataset's content hash, scoring hash and whether it was limited (``run --limit``), and
runs that differ in any of these are labelled apart (a row's ``dataset`` column), never
pooled. Rendering: ``leaderboard_render``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .cells import load_run
from .methods import best_index, mean_of, ranking_metric, setting_groups
from .stats import CLUSTER, cluster_mean_ci, count_once
from .tables import metric_columns

# PIE-Bench's tables print these families scaled (docs/benchmarks.md); stored values never are
PAPER_SCALE = (
    (re.compile(r"^structure_dist_"), 1e3),
    (re.compile(r"^lpips_(bg|edit)_"), 1e3),
    (re.compile(r"^mse_(bg|edit)_"), 1e4),
    (re.compile(r"^ssim_(bg|edit)_"), 1e2),
)


class LeaderboardError(InputError):
    """Runs the leaderboard cannot read, or options that name nothing in them."""


def paper_factor(label: str) -> float:
    """The factor PIE-Bench's tables print a metric column with (1 for the others)."""
    return next((f for pattern, f in PAPER_SCALE if pattern.match(label)), 1.0)


@dataclass
class RunInfo:
    """One run as the leaderboard names it: where it lies and what it was computed on."""

    label: str
    folder: Path
    cells: pd.DataFrame
    axes: list[str]
    dataset_hash: str | None
    scoring_hash: str | None
    protocol_hash: str | None
    items: int
    limit: dict | None
    model: str
    group: str = ""  # 'D1', 'D2', ...: runs with one dataset, scoring and limit share one


@dataclass
class Leaderboard:
    """The rows (one per run, method and setting shown), the metrics, and the runs."""

    rows: pd.DataFrame
    metrics: list[str]
    runs: list[RunInfo]
    rank: str
    scaled: bool
    per_setting: bool
    by_type: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def read_run(folder: Path) -> RunInfo:
    """A finished run directory's cells and identity (results.json, else the manifest
    of a run written before it existed); one-line LeaderboardError otherwise."""
    try:
        cells = load_run(folder)
    except InputError as err:
        raise LeaderboardError(str(err)) from None
    if "method" not in cells:  # written before the method column: SINE alone
        cells["method"] = "sine"
    manifest = _json(folder / "manifest.json")
    results = _json(folder / "results.json")
    dataset = results.get("dataset") or manifest.get("dataset") or {}
    axes = results.get("axes") or manifest.get("axes")
    if not isinstance(axes, list) or not set(axes) <= set(cells.columns):
        raise LeaderboardError(
            f"{folder}: manifest.json names no grid axes of its cells table (not a run "
            "directory sine-bench wrote whole; rerun its protocol)"
        )
    limit = dataset.get("limit") if isinstance(dataset, dict) else None
    model = manifest.get("model_identity") or {}
    return RunInfo(
        label=str(cells["run"].iloc[0]) if len(cells) else folder.name,
        folder=folder,
        cells=cells,
        axes=axes,
        dataset_hash=dataset.get("content_hash") if isinstance(dataset, dict) else None,
        scoring_hash=results.get("scoring_sha256"),
        protocol_hash=results.get("protocol_sha256"),
        items=int(cells[CLUSTER].nunique()),
        limit=limit if isinstance(limit, dict) and limit.get("limited") else None,
        model=str(model.get("kind", "?")) if isinstance(model, dict) else "?",
    )


def _metrics(run: RunInfo) -> list[str]:
    """The run's metric columns (not the run labels ``load_run`` adds)."""
    added = {"run", "run_dir", "finetune.method"} - set(run.axes)
    return [m for m in metric_columns(run.cells, run.axes) if m not in added]


def _group_runs(runs: list[RunInfo]) -> list[str]:
    """Label runs by what makes numbers comparable (dataset, scoring, limit); one note
    per difference, so a table never mixes them silently."""
    groups: dict[tuple, str] = {}
    for run in runs:
        ident = (run.dataset_hash, run.scoring_hash, json.dumps(run.limit, sort_keys=True))
        run.group = groups.setdefault(ident, f"D{len(groups) + 1}")
    unknown = [r.label for r in runs if r.dataset_hash is None or r.scoring_hash is None]
    notes = []
    if unknown and len(runs) > 1:
        notes.append(
            f"{', '.join(unknown)}: written before runs recorded their dataset and scoring "
            "hashes; whether they share images and scoring is not checked"
        )
    if len(groups) == 1:
        return notes
    notes.append("runs differ in what they were scored on: compare rows of one dataset label only")
    for run in runs:
        limited = (
            f", limited to {run.limit['items']} of {run.limit['of']} items" if run.limit else ""
        )
        notes.append(
            f"{run.group} = {run.label}: dataset sha256:{(run.dataset_hash or 'unknown')[:12]} "
            f"({run.items} source images{limited}), scoring {run.scoring_hash or 'unknown'}"
        )
    return notes


def _row(run: RunInfo, method: str, setting: str, group: pd.DataFrame, metrics, scale) -> dict:
    row = {"run": run.label, "dataset": run.group, "method": method, "setting": setting}
    row |= {"n": len(group), "images": int(group[CLUSTER].nunique())}
    for metric in metrics:
        factor = paper_factor(metric) if scale else 1.0
        mean, (lo, hi) = mean_of(group, metric), (math.nan, math.nan)
        if metric in group:
            lo, hi = cluster_mean_ci(group[metric].to_numpy(dtype=float), list(group[CLUSTER]))
        row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = (
            mean * factor,
            lo * factor,
            hi * factor,
        )
    return row


def _distinct_labels(runs: list[RunInfo]) -> list[RunInfo]:
    """Runs of one protocol name (a run and its --limit look, a run and its edits
    scored back) are told apart in the table by their folder (its path where the folder
    names are alike too)."""
    counts = Counter(run.label for run in runs)
    shared = [run for run in runs if counts[run.label] > 1]
    names = Counter(run.folder.name for run in shared)
    for run in shared:
        run.label = (
            f"{run.label} ({run.folder.name if names[run.folder.name] == 1 else run.folder})"
        )
    return runs


def build(
    folders: list[Path],
    *,
    metrics: list[str] | None = None,
    rank: str | None = None,
    per_setting: bool = False,
    paper_scale: bool = False,
) -> Leaderboard:
    """Read the runs and build the table (see the module docstring)."""
    from ..metrics.families import family_record

    seen = set()
    for folder in folders:
        if folder.resolve() in seen:
            raise LeaderboardError(f"{folder}: given twice (give each run directory once)")
        seen.add(folder.resolve())
    runs = _distinct_labels([read_run(folder) for folder in folders])
    available = list(dict.fromkeys(m for r in runs for m in _metrics(r)))
    if not available:
        raise LeaderboardError(f"{runs[0].folder}: the runs scored no metric (nothing to rank)")
    for name in [*(metrics or []), *([rank] if rank else [])]:
        if name not in available:
            raise LeaderboardError(
                f"--metrics/--rank: {name!r} is a column of none of the runs (they have "
                f"{', '.join(available)})"
            )
    shown = metrics or available
    rank = rank or ranking_metric(shown)
    record = family_record(rank)
    higher = record is None or record.direction != "lower"
    notes = _group_runs(runs)
    rows, typed = [], []
    for run in runs:
        cells = count_once(run.cells, run.axes)  # a seed-free edit counts once
        for method in dict.fromkeys(cells["method"]):
            settings = setting_groups(cells[cells["method"] == method], run.axes, sort=True)
            best = best_index(settings, rank, higher)
            chosen = settings if per_setting else [settings[best]]
            for label, group in chosen:
                marked = f"{label} (best)" if per_setting and group is settings[best][1] else label
                rows.append(_row(run, method, marked, group, shown, paper_scale))
                if "edit_type" in group and group["edit_type"].notna().any():
                    for kind, part in group.groupby("edit_type", sort=True):
                        typed.append(
                            {"edit_type": kind}
                            | _row(run, method, marked, part, shown, paper_scale)
                        )
    by_type = pd.DataFrame(typed) if typed else None
    table = pd.DataFrame(rows)
    return Leaderboard(table, shown, runs, rank, paper_scale, per_setting, by_type, notes)
