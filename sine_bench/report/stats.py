"""Statistics that respect the design: the independent unit is the source image.

The cells of one source image (its prompts, seeds and settings) share that image and
its fine-tune, so they are not independent draws. Every interval and test here is a
cluster bootstrap: it resamples whole source images (with all their cells) with
replacement and recomputes the statistic, 2,000 times with a fixed seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

BOOTSTRAP_SAMPLES = 2000
CLUSTER = "item"  # the cells-table column naming the source image


@dataclass(frozen=True)
class Estimate:
    """A statistic, its 95% percentile interval and a two-sided bootstrap p-value for
    'the statistic equals ``null``' (NaN where the data cannot say)."""

    value: float
    lo: float
    hi: float
    p: float
    clusters: int


def cluster_rows(clusters: Sequence) -> list[np.ndarray]:
    """Row indices per cluster, in a fixed order."""
    labels = np.asarray(clusters, dtype=object)
    order = sorted(set(labels.tolist()), key=str)
    return [np.flatnonzero(labels == c) for c in order]


def cluster_mean_ci(values: np.ndarray, clusters: Sequence, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean of ``values`` (NaNs dropped), resampling clusters; NaN
    with fewer than two clusters (nothing to say about another source image)."""
    values = np.asarray(values, dtype=float)
    finite = ~np.isnan(values)
    groups = [g[finite[g]] for g in cluster_rows(clusters)]
    groups = [g for g in groups if len(g)]
    if len(groups) < 2:
        return math.nan, math.nan
    sums = np.array([values[g].sum() for g in groups])
    counts = np.array([len(g) for g in groups], dtype=float)
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, len(groups), size=(BOOTSTRAP_SAMPLES, len(groups)))
    means = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def cluster_bootstrap(
    statistic: Callable[[np.ndarray], float],
    n_rows: int,
    clusters: Sequence,
    null: float = 0.0,
    seed: int = 0,
) -> Estimate:
    """Any statistic of a table's rows: ``statistic(row_indices) -> float``.

    The p-value is the percentile bootstrap's: twice the smaller share of resampled
    statistics on either side of ``null`` (at least 1 / BOOTSTRAP_SAMPLES).
    """
    if len(clusters) != n_rows:
        raise ValueError(f"{len(clusters)} cluster labels for {n_rows} rows")
    value = float(statistic(np.arange(n_rows)))
    groups = cluster_rows(clusters)
    if len(groups) < 2 or not math.isfinite(value):
        return Estimate(value, math.nan, math.nan, math.nan, len(groups))
    rng = np.random.default_rng(seed)
    draws = []
    for picks in rng.integers(0, len(groups), size=(BOOTSTRAP_SAMPLES, len(groups))):
        draws.append(statistic(np.concatenate([groups[i] for i in picks])))
    draws = np.array(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return Estimate(value, math.nan, math.nan, math.nan, len(groups))
    below, above = float((draws <= null).mean()), float((draws >= null).mean())
    p = min(1.0, max(2 * min(below, above), 1 / BOOTSTRAP_SAMPLES))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return Estimate(value, float(lo), float(hi), p, len(groups))


def count_once(cells: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """The cells with each distinct edit of a setting, source and prompt counted once.

    A method whose edit does not depend on the seed (ddim-inversion: no seed in its
    edit key) makes one image however many seeds the grid lists; its seeds' cells share
    that edit key, and pooling them over seeds would count one image as several
    (narrower intervals, more weight in a pooled mean). Determinism is read from the
    keys, not from a method's name; cells whose keys differ are all kept."""
    if "edit_key" not in cells or "seed" not in axes:
        return cells
    same = [a for a in axes if a != "seed" and a in cells]
    same += [c for c in ("item", "prompt_index", "edit_key") if c in cells]
    return cells.drop_duplicates(subset=same)
