"""Is a joint edit score valid? Measured against the toy oracle's faithful outcome.

Two questions a user of a score asks, both answered against ``oracle_faithful`` (the
edit is right AND this image's layout is kept):

- per cell: does the score rank faithful edits above the others? (AUROC, oriented by
  the metric's direction, from ``validity.auroc_estimate``);
- per setting (every grid axis but the seed, averaged over source images, prompts and
  seeds): does ranking settings by their mean score rank them by their faithful rate?
  (Spearman of the per-setting means.)

Asked of every edit score, of clip_t and of every fidelity metric, per run and pooled.
Every interval resamples source images; the per-setting one recomputes both sides'
means from per-(image, setting) sums on each resample, so it is exact and fast.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from ..metrics.families import families_with, family_record
from .stats import BOOTSTRAP_SAMPLES, CLUSTER, Estimate, cluster_rows
from .validity import FAITHFUL, FIDELITY_FAMILIES, family, per_run_and_pooled, score_label

NOT_SETTINGS = frozenset(
    {"cell_id", "item", "prompt_index", "prompt", "seed", "height", "width", "source_size"}
    | {"finetune_key", "edit_key", "image", "run", "run_dir", "edit_type"}
)
COMPARED_FAMILIES = (*families_with("joint"), "clip_t", *FIDELITY_FAMILIES)


def setting_columns(cells: pd.DataFrame) -> list[str]:
    """The columns that make a setting: every column that is neither a cell's identity,
    a replicate (seed), bookkeeping nor a metric, i.e. the grid axes (v, K, resolution,
    finetune.*, swept edit fields, a method column); ``run`` first when pooled."""
    axes = [
        c
        for c in cells.columns
        if c not in NOT_SETTINGS
        and family_record(c) is None
        and not c.startswith("cost.")  # a methods run's measured costs, not settings
    ]
    if "run" in cells and cells["run"].nunique() > 1:
        axes.insert(0, "run")
    return axes


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(scipy_stats.spearmanr(a, b)[0])


def setting_sums(
    score: np.ndarray, truth: np.ndarray, settings: np.ndarray, clusters
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (cluster, setting): the sum of ``score``, the sum of ``truth`` and the count,
    each (clusters, settings); clusters in ``cluster_rows`` order, settings sorted."""
    groups = cluster_rows(clusters)
    codes, names = pd.factorize(pd.Series(settings), sort=True)
    shape = (len(groups), len(names))
    sums, hits, counts = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for i, rows in enumerate(groups):
        np.add.at(sums[i], codes[rows], score[rows])
        np.add.at(hits[i], codes[rows], truth[rows])
        np.add.at(counts[i], codes[rows], 1.0)
    return sums, hits, counts


def weighted_rho(
    weights: np.ndarray, sums: np.ndarray, hits: np.ndarray, counts: np.ndarray
) -> float:
    """The per-setting Spearman of a resample that takes cluster i ``weights[i]`` times."""
    n = weights @ counts
    seen = n > 0
    return _spearman((weights @ sums)[seen] / n[seen], (weights @ hits)[seen] / n[seen])


def setting_rank_estimate(
    score: np.ndarray, truth: np.ndarray, settings: np.ndarray, clusters
) -> Estimate:
    """Spearman between per-setting means of ``score`` and of ``truth``, with a cluster
    bootstrap: a resample reweights whole clusters, so the means are recomputed exactly
    from per-(cluster, setting) sums."""
    sums, hits, counts = setting_sums(score, truth, settings, clusters)
    n_groups = len(sums)
    value = weighted_rho(np.ones(n_groups), sums, hits, counts)
    if n_groups < 2 or not math.isfinite(value):
        return Estimate(value, math.nan, math.nan, math.nan, n_groups)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, n_groups, (BOOTSTRAP_SAMPLES, n_groups))
    draws = np.array(
        [
            weighted_rho(np.bincount(p, minlength=n_groups).astype(float), sums, hits, counts)
            for p in picks
        ]
    )
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return Estimate(value, math.nan, math.nan, math.nan, n_groups)
    below, above = float((draws <= 0).mean()), float((draws >= 0).mean())
    p = min(1.0, max(2 * min(below, above), 1 / BOOTSTRAP_SAMPLES))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return Estimate(value, float(lo), float(hi), p, n_groups)


def setting_row(cells: pd.DataFrame, scope: str, metric: str) -> dict | None:
    """Per-setting Spearman of one metric's mean (oriented) with the faithful rate."""
    from .validity import oriented

    axes = setting_columns(cells)
    if metric not in cells or FAITHFUL.column not in cells or not axes:
        return None
    data = cells[[metric, FAITHFUL.column, CLUSTER, *axes]].dropna(subset=[metric])
    data = data.dropna(subset=[FAITHFUL.column])
    if len(data) < 3:
        return None
    settings = data[axes].apply(lambda col: col.map(str)).agg(" | ".join, axis=1).to_numpy()
    est = setting_rank_estimate(
        oriented(data, metric),
        (data[FAITHFUL.column].to_numpy(float) >= 1 - 1e-9).astype(float),
        settings,
        data[CLUSTER].tolist(),
    )
    return {
        "scope": scope,
        "metric": metric,
        "settings": len(set(settings)),
        "value": est.value,
        "lo": est.lo,
        "hi": est.hi,
        "images": est.clusters,
    }


def compared_metrics(cells: pd.DataFrame) -> list[str]:
    """Edit scores first, then clip_t, then the fidelity metrics, in table order."""
    found = [c for c in cells.columns if family(c) in COMPARED_FAMILIES]
    return sorted(found, key=lambda c: COMPARED_FAMILIES.index(family(c)))


def score_validity_table(cells: pd.DataFrame, scope: str) -> pd.DataFrame:
    """Per metric: AUROC for oracle_faithful and the per-setting Spearman, one scope."""
    rows = []
    for metric in compared_metrics(cells):
        cell = score_label(cells, scope, metric, FAITHFUL)
        setting = setting_row(cells, scope, metric)
        if cell is None and setting is None:
            continue
        row = {"scope": scope, "metric": metric}
        if cell is not None:
            row |= {k: cell[k] for k in ("cells", "positives", "images")}
            row |= {"auroc": cell["value"], "auroc_lo": cell["lo"], "auroc_hi": cell["hi"]}
        if setting is not None:
            row |= {"settings": setting["settings"], "setting_rho": setting["value"]}
            row |= {"setting_rho_lo": setting["lo"], "setting_rho_hi": setting["hi"]}
        rows.append(row)
    return pd.DataFrame(rows)


def score_validity(cells: pd.DataFrame) -> pd.DataFrame:
    """The table per run (``run`` column) and pooled; a cell two runs share counts once
    in the pooled scope (per-setting means pool each run's settings separately)."""
    return per_run_and_pooled(cells, score_validity_table)
