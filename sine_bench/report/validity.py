"""Do the automatic metrics tell a kept structure from a lost one? Measured against the
toy oracle's ground truth.

For each fidelity metric (LPIPS of any backbone, PSNR, SSIM, their masked forms,
clip_i, clip_dir): its AUROC for ``oracle_structure == 1`` (every source object kept)
and its Spearman correlation with ``oracle_offset``. For clip_t: its AUROC for full
edit success and for ``oracle_faithful``. AUROCs are oriented by the metric's
direction (a lower LPIPS counts as closer), so 0.5 is chance and 1 a perfect ranking.
Every interval resamples source images (``stats``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from ..metrics.families import FAMILIES, families_with
from ..metrics.names import family_of
from .stats import BOOTSTRAP_SAMPLES, CLUSTER, Estimate, cluster_bootstrap, cluster_rows

# Metrics asked whether they tell a kept structure: every fidelity metric with a better
# direction (pixel and perceptual ones first, then CLIP-space ones), and clip_dir, an
# alignment metric that also reads the source image (docs/reproduction.md reports both
# CLIP ones as failing). Fidelity families with no direction (PIE-Bench's edit-region
# diagnostics: an edit is meant to change that region) are not asked: no orientation
# says which of their values is the kept structure.
FIDELITY_FAMILIES = (
    *sorted(
        (f for f in families_with("fidelity") if FAMILIES.get(f).direction is not None),
        key=lambda f: "clip" in FAMILIES.get(f).backbones,
    ),
    "clip_dir",
)
FULL = 1.0 - 1e-9


@dataclass(frozen=True)
class Label:
    """A ground-truth outcome a metric should predict."""

    name: str
    column: str  # the oracle column it is read from
    kind: str  # "binary" (AUROC) or "graded" (Spearman)


STRUCTURE = Label("oracle_structure = 1", "oracle_structure", "binary")
OFFSET = Label("oracle_offset", "oracle_offset", "graded")
SUCCESS = Label("edit success = 1", "oracle_edit_success", "binary")
FAITHFUL = Label("oracle_faithful = 1", "oracle_faithful", "binary")


def family(column: str) -> str:
    return family_of(column)


def oriented(cells: pd.DataFrame, column: str) -> np.ndarray:
    """The metric with 'better' pointing up (LPIPS negated), per the family's record; a
    family with no better direction is a ValueError (never read as lower-is-better)."""
    direction = FAMILIES.get(family(column)).direction
    if direction is None:
        raise ValueError(f"{column}: its family has no better direction to orient by")
    values = cells[column].to_numpy(dtype=float)
    return values if direction == "higher" else -values


def auroc_estimate(scores: np.ndarray, labels: np.ndarray, clusters) -> Estimate:
    """AUROC with a cluster-bootstrap interval, computed exactly for every resample from
    per-cluster-pair counts (a resample only reweights whole clusters)."""
    groups = cluster_rows(clusters)
    pos = [scores[g][labels[g]] for g in groups]
    neg = [scores[g][~labels[g]] for g in groups]
    n_pos = np.array([len(p) for p in pos], dtype=float)
    n_neg = np.array([len(n) for n in neg], dtype=float)
    if n_pos.sum() == 0 or n_neg.sum() == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, len(groups))
    wins = np.zeros((len(groups), len(groups)))
    for i, p in enumerate(pos):
        for j, n in enumerate(neg):
            if len(p) and len(n):
                diff = p[:, None] - n[None, :]
                wins[i, j] = (diff > 0).sum() + 0.5 * (diff == 0).sum()
    value = wins.sum() / (n_pos.sum() * n_neg.sum())
    if len(groups) < 2:
        return Estimate(float(value), math.nan, math.nan, math.nan, len(groups))
    rng = np.random.default_rng(0)
    counts = np.stack(
        [
            np.bincount(d, minlength=len(groups))
            for d in rng.integers(0, len(groups), (BOOTSTRAP_SAMPLES, len(groups)))
        ]
    ).astype(float)
    denominator = (counts @ n_pos) * (counts @ n_neg)
    ok = denominator > 0
    draws = np.einsum("bi,ij,bj->b", counts[ok], wins, counts[ok]) / denominator[ok]
    below, above = float((draws <= 0.5).mean()), float((draws >= 0.5).mean())
    p = min(1.0, max(2 * min(below, above), 1 / BOOTSTRAP_SAMPLES))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return Estimate(float(value), float(lo), float(hi), p, len(groups))


def spearman_estimate(x: np.ndarray, y: np.ndarray, clusters) -> Estimate:
    def rho(rows: np.ndarray) -> float:
        a, b = x[rows], y[rows]
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return math.nan
        return float(scipy_stats.spearmanr(a, b)[0])

    return cluster_bootstrap(rho, len(x), clusters)


def _row(scope: str, metric: str, label: Label, est: Estimate, n: int, positives) -> dict:
    return {
        "scope": scope,
        "metric": metric,
        "predicts": label.name,
        "statistic": "AUROC" if label.kind == "binary" else "Spearman",
        "value": est.value,
        "lo": est.lo,
        "hi": est.hi,
        "cells": n,
        "positives": positives,
        "images": est.clusters,
    }


def score_label(cells: pd.DataFrame, scope: str, metric: str, label: Label) -> dict | None:
    """One metric against one oracle outcome, on the cells that have both."""
    if metric not in cells or label.column not in cells:
        return None
    data = cells[[metric, label.column, CLUSTER]].dropna()
    if len(data) < 3:
        return None
    score = oriented(data, metric) if label.kind == "binary" else data[metric].to_numpy(float)
    truth = data[label.column].to_numpy(dtype=float)
    clusters = data[CLUSTER].tolist()
    if label.kind == "binary":
        positives = truth >= FULL
        est = auroc_estimate(score, positives, clusters)
        return _row(scope, metric, label, est, len(data), int(positives.sum()))
    return _row(scope, metric, label, spearman_estimate(score, truth, clusters), len(data), None)


def validity_table(cells: pd.DataFrame, scope: str) -> pd.DataFrame:
    """Every fidelity metric against structure, clip_t against success and faithfulness."""
    rows = []
    for column in cells.columns:
        fam = family(column)
        if fam in FIDELITY_FAMILIES:
            labels = (STRUCTURE, OFFSET)
        elif fam == "clip_t":
            labels = (SUCCESS, FAITHFUL)
        else:
            continue
        rows += [r for label in labels if (r := score_label(cells, scope, column, label))]
    return pd.DataFrame(rows)


def per_run_and_pooled(
    cells: pd.DataFrame, table: Callable[[pd.DataFrame, str], pd.DataFrame]
) -> pd.DataFrame:
    """``table(cells, scope)`` per run (``run`` column, when there are several) and
    pooled; a cell two runs share (same edit) counts once in the pooled scope."""
    parts = []
    if "run" in cells and cells["run"].nunique() > 1:
        for run, group in cells.groupby("run", sort=True):
            parts.append(table(group, str(run)))
    pooled = cells.drop_duplicates("edit_key") if "edit_key" in cells else cells
    parts.append(table(pooled, "pooled"))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def validity(cells: pd.DataFrame) -> pd.DataFrame:
    """The table per run (``run`` column) and pooled; a cell two runs share counts once."""
    return per_run_and_pooled(cells, validity_table)


def trusted_fidelity_metric(table: pd.DataFrame) -> str | None:
    """The fidelity metric with the highest pooled AUROC for a kept structure."""
    if table.empty:
        return None
    rows = table[(table["scope"] == "pooled") & (table["predicts"] == STRUCTURE.name)]
    rows = rows[rows["metric"].map(family).isin(FIDELITY_FAMILIES)].dropna(subset=["value"])
    return None if rows.empty else str(rows.sort_values("value").iloc[-1]["metric"])
