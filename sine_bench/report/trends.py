"""Claims (a) and (b): does a metric rise or fall along a swept axis (K, v)?

The Spearman rank correlation of the axis with the metric over cells, with an interval
and a p-value that resample source images (``stats``): cells of one image are not
independent, so a trend holds only if it holds across images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..metrics.families import FAMILIES
from .cells import metric_column
from .stats import CLUSTER, cluster_bootstrap

ALPHA = 0.05
# The paper's claims: with larger K and v the edit's text alignment improves and its
# fidelity to the source worsens, read on these metrics; whether each then rises or
# falls follows from its direction (``expected``).
ALIGNMENT = ("clip_t", "oracle_edit_success", "clip_dir")
FIDELITY = (
    "lpips",
    "oracle_preserved",
    "oracle_structure",
    "oracle_offset",
    "clip_i",
    "psnr",
    "ssim",
)


def expected(family: str) -> int:
    """+1 if the claims say the family's values rise with K / v, -1 if they fall."""
    sign = FAMILIES.get(family).sign
    return sign if family in ALIGNMENT else -sign


@dataclass
class Trend:
    """How one metric moves along one swept axis."""

    axis: str
    metric: str
    expected: int  # +1 rises, -1 falls
    rho: float  # Spearman over cells
    rho_lo: float  # 95% interval, resampling source images
    rho_hi: float
    p: float  # cluster-bootstrap p for rho = 0
    rho_means: float  # Spearman over the per-axis-value means
    n: int
    images: int
    first: float  # mean at the smallest axis value
    last: float  # mean at the largest
    verdict: str  # "holds", "holds (not significant)", "reversed", "reversed (n.s.)", "flat"


def _verdict(rho: float, p: float, expected: int) -> str:
    if not np.isfinite(rho) or rho == 0:
        return "flat"
    agrees = np.sign(rho) == expected
    significant = p < ALPHA
    if agrees:
        return "holds" if significant else "holds (not significant)"
    return "reversed" if significant else "reversed (not significant)"


def _spearman(x: np.ndarray, y: np.ndarray):
    def rho(rows: np.ndarray) -> float:
        a, b = x[rows], y[rows]
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return math.nan
        return float(stats.spearmanr(a, b)[0])

    return rho


def trend(cells: pd.DataFrame, axis: str, column: str, expected: int) -> Trend:
    """Spearman correlation of ``axis`` with ``column`` (NaNs dropped)."""
    keep = [axis, column] + ([CLUSTER] if CLUSTER in cells else [])
    data = cells[keep].dropna()
    n = len(data)
    clusters = data[CLUSTER].tolist() if CLUSTER in data else list(range(n))
    means = data.groupby(axis)[column].mean() if n else pd.Series(dtype=float)
    rho = lo = hi = p = rho_means = math.nan
    images = len(set(clusters))
    if n >= 3 and data[axis].nunique() >= 2 and data[column].nunique() >= 2:
        x, y = data[axis].to_numpy(dtype=float), data[column].to_numpy(dtype=float)
        est = cluster_bootstrap(_spearman(x, y), n, clusters)
        rho, lo, hi, p = est.value, est.lo, est.hi, est.p
        if means.nunique() > 1:
            rho_means = float(stats.spearmanr(means.index, means.values)[0])
    return Trend(
        axis,
        column,
        expected,
        float(rho),
        float(lo),
        float(hi),
        float(p),
        float(rho_means),
        n,
        images,
        float(means.iloc[0]) if len(means) else math.nan,
        float(means.iloc[-1]) if len(means) else math.nan,
        _verdict(float(rho), float(p), expected),
    )


def sweep_trends(cells: pd.DataFrame, axis: str) -> list[Trend]:
    """Every alignment and fidelity metric present, against ``axis``."""
    out = []
    for family in (*ALIGNMENT, *FIDELITY):
        column = metric_column(cells, family)
        if column is not None:
            out.append(trend(cells, axis, column, expected(family)))
    return out
