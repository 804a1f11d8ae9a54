"""Methods side by side (a run whose protocol lists ``methods``): per method its best
setting and its whole range, each metric's mean with a 95% interval that resamples
source images, and what it cost here.

"Best" is the setting (every axis but the seed) with the highest mean of the ranking
metric (``oracle_faithful`` when scored: a regeneration of the scene never ranks
first), ties to the first in the table's order. "Range" pools every cell of the
method, all its settings alike, and gives the lowest and highest setting mean of the
ranking metric beside it. Costs: training steps and seconds per source image (a
method's distinct trainings of that image, summed), UNet evaluations and seconds per
edit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .stats import CLUSTER, cluster_bootstrap, cluster_mean_ci

RANKING = ("oracle_faithful", "oracle_edit_success")


def ranking_metric(metrics: list[str]) -> str:
    return next((m for m in RANKING if m in metrics), metrics[0])


def _interval(group: pd.DataFrame, metric: str) -> tuple[float, float, float]:
    data = group[metric].to_numpy(dtype=float)
    finite = data[~pd.isna(data)]
    lo, hi = cluster_mean_ci(data, list(group[CLUSTER]))
    return (float(finite.mean()) if len(finite) else math.nan), lo, hi


def _setting_label(row: pd.Series, axes: list[str]) -> str:
    parts = [f"{a}={row[a]:g}" if isinstance(row[a], float) else f"{a}={row[a]}" for a in axes]
    return ", ".join(parts) or "-"


PEAK = "cost.edit_peak_memory_mb"


def _costs(cells: pd.DataFrame) -> dict[str, float]:
    """Training per source image (distinct trainings summed) and sampling per edit."""
    trained = cells.drop_duplicates("finetune_key")
    trained = trained[trained["finetune_key"].fillna("") != ""]
    images = cells["item"].nunique()
    return {
        "train_steps_per_image": float(trained["cost.train_steps"].sum()) / images,
        "train_seconds_per_image": float(trained["cost.train_seconds"].sum()) / images,
        "unet_evaluations_per_edit": float(cells["cost.unet_evaluations"].mean()),
        "edit_seconds_per_edit": float(cells["cost.edit_seconds"].mean()),
    } | (  # a run with a black-box editor: each edit's peak memory (NaN for the others)
        {"edit_peak_memory_mb": float(cells[PEAK].max())} if PEAK in cells else {}
    )


def mean_of(group: pd.DataFrame, metric: str) -> float:
    """The metric's mean over the group's finite values (NaN when it has none or no column)."""
    if metric not in group:
        return math.nan
    data = group[metric].to_numpy(dtype=float)
    data = data[~pd.isna(data)]
    return float(data.mean()) if len(data) else math.nan


def setting_groups(
    own: pd.DataFrame, axes: list[str], *, sort: bool = False
) -> list[tuple[str, pd.DataFrame]]:
    """A method's settings: its cells grouped by every axis it has but the seed, each
    labelled by the axes that take more than one value ("-" when none does)."""
    keys = [a for a in axes if a not in ("method", "seed") and own[a].notna().any()]
    if not keys:
        return [("-", own)]
    swept = [a for a in keys if own[a].nunique() > 1]
    groups = own.groupby(keys, sort=sort, dropna=False)
    return [(_setting_label(group.iloc[0], swept), group) for _, group in groups]


def best_index(settings: list[tuple[str, pd.DataFrame]], metric: str, higher: bool = True) -> int:
    """The index of the setting with the best mean of ``metric`` (NaN last, ties: the first)."""
    sign = 1.0 if higher else -1.0
    scores = [sign * mean_of(group, metric) for _, group in settings]
    scores = [-math.inf if math.isnan(score) else score for score in scores]
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def best_settings(cells: pd.DataFrame, axes: list[str], key: str) -> dict[str, tuple]:
    """Per method: (its best setting's label, that setting's cells)."""
    out = {}
    for method in dict.fromkeys(cells["method"]):
        settings = setting_groups(cells[cells["method"] == method], axes)
        out[method] = settings[best_index(settings, key)]
    return out


def methods_table(cells: pd.DataFrame, axes: list[str], metrics: list[str]) -> pd.DataFrame:
    """Two rows per method (in the table's order): its best setting and its range."""
    key = ranking_metric(metrics)
    rows = []
    for method in dict.fromkeys(cells["method"]):
        own = cells[cells["method"] == method]
        settings = setting_groups(own, axes)
        best_label, best = settings[best_index(settings, key)]
        means = [mean_of(group, key) for _, group in settings]
        finite = [m for m in means if not math.isnan(m)]
        for label, group, setting in (
            ("best", best, best_label),
            ("range", own, f"{len(settings)} settings"),
        ):
            row = {"method": method, "row": label, "setting": setting}
            row |= {"n": len(group), "images": group[CLUSTER].nunique()}
            for metric in metrics:
                row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = _interval(group, metric)
            if label == "range":
                row[f"{key}_min"] = min(finite) if finite else math.nan
                row[f"{key}_max"] = max(finite) if finite else math.nan
            rows.append(row | _costs(group))
    return pd.DataFrame(rows)


PAIRED_BY = ("item", "prompt_index")


def _per_source_prompt(group: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Each metric's mean over the seeds of every (source, prompt): the paired unit. A
    deterministic method has one image per pair (its seeds counted once), so pairing seed
    by seed would drop the other side's remaining seeds."""
    return group.groupby(list(PAIRED_BY), as_index=False)[metrics].mean()


def versus(cells: pd.DataFrame, axes: list[str], metrics: list[str], reference: str = "sine"):
    """Each method's best setting minus ``reference``'s best, per metric, on the same
    (source, prompt) pairs, each side's seeds averaged: the mean paired difference, a 95%
    interval and a p-value that resample source images. Both bests are chosen on these
    same cells, so the differences of the winners are optimistic for both sides alike."""
    best = best_settings(cells, axes, ranking_metric(metrics))
    if reference not in best:
        return pd.DataFrame()
    ref = _per_source_prompt(best[reference][1], metrics)
    rows = []
    for method, (label, group) in best.items():
        if method == reference:
            continue
        own = _per_source_prompt(group, metrics)
        joined = own.merge(ref, on=list(PAIRED_BY), suffixes=("", "@ref"))
        clusters = list(joined["item"])
        row = {"method": method, "setting": label, "versus": f"{reference}: {best[reference][0]}"}
        row["pairs"] = len(joined)
        for metric in metrics:
            diff = (joined[metric] - joined[f"{metric}@ref"]).to_numpy(dtype=float)
            estimate = cluster_bootstrap(
                lambda rows, d=diff: float(np.nanmean(d[rows])), len(diff), clusters
            )
            row |= {
                metric: estimate.value,
                f"{metric}_lo": estimate.lo,
                f"{metric}_hi": estimate.hi,
            }
            row[f"{metric}_p"] = estimate.p
        rows.append(row)
    return pd.DataFrame(rows)


def versus_markdown(table: pd.DataFrame, metrics: list[str]) -> str:
    """'difference [lo, hi] (p)' per metric."""
    if table.empty:
        return ""
    header = ["method", "setting", "versus", "pairs", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in table.iterrows():
        cells = [r["method"], r["setting"], r["versus"], str(int(r["pairs"]))]
        cells += [
            f"{r[m]:+.3g} [{r[m + '_lo']:+.3g}, {r[m + '_hi']:+.3g}] (p {r[m + '_p']:.2g})"
            for m in metrics
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(table: pd.DataFrame, metrics: list[str]) -> str:
    """'mean [lo, hi]' per metric, then the costs; the range row adds the ranking
    metric's lowest-highest setting mean."""
    key = ranking_metric(metrics)
    costs = ["train_steps_per_image", "train_seconds_per_image"]
    costs += ["unet_evaluations_per_edit", "edit_seconds_per_edit"]
    costs += ["edit_peak_memory_mb"] if "edit_peak_memory_mb" in table else []
    header = ["method", "row", "setting", "n", "images", *metrics, f"{key} settings", *costs]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in table.iterrows():
        cells = [r["method"], r["row"], r["setting"], str(int(r["n"])), str(int(r["images"]))]
        cells += [f"{r[m]:.3g} [{r[m + '_lo']:.3g}, {r[m + '_hi']:.3g}]" for m in metrics]
        spread = f"{r[key + '_min']:.3g}-{r[key + '_max']:.3g}" if r["row"] == "range" else ""
        cells += [spread, *(f"{r[c]:.4g}" for c in costs)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
