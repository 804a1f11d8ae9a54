"""The cluster bootstrap resamples source images, not cells."""

import math

import numpy as np
from scipy import stats as scipy_stats

from sine_bench.report.stats import cluster_bootstrap, cluster_mean_ci


def _clustered(n_items: int, per_item: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    item_effect = rng.normal(0, 1, n_items)
    values = np.repeat(item_effect, per_item) + rng.normal(0, 0.1, n_items * per_item)
    clusters = np.repeat([f"img{i}" for i in range(n_items)], per_item)
    return values, clusters


def test_interval_is_as_wide_as_the_images_allow_not_the_cells():
    values, clusters = _clustered(10, 50)
    lo, hi = cluster_mean_ci(values, clusters)
    naive_lo, naive_hi = cluster_mean_ci(values, np.arange(len(values)))  # cells as units
    assert lo <= values.mean() <= hi
    # 10 independent images, not 500 independent cells: several times wider
    assert (hi - lo) > 3 * (naive_hi - naive_lo)
    assert cluster_mean_ci(values, clusters) == (lo, hi)  # seeded


def test_nan_values_and_single_cluster():
    values = np.array([1.0, np.nan, 3.0, 4.0])
    lo, hi = cluster_mean_ci(values, ["a", "a", "b", "b"])
    assert 1.0 <= lo <= hi <= 4.0
    assert all(math.isnan(x) for x in cluster_mean_ci(values, ["a"] * 4))


def test_bootstrap_of_a_statistic_and_its_p_value():
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(12), 20)
    x = rng.normal(size=240)
    related = x + rng.normal(0, 0.5, 240)
    strong = cluster_bootstrap(
        lambda rows: scipy_stats.spearmanr(x[rows], related[rows])[0], 240, clusters
    )
    assert strong.lo > 0.5 and strong.p < 0.01 and strong.clusters == 12


def test_calibrated_where_a_cell_level_test_is_not():
    """x and y both vary between source images, independently: no relation. Cells of one
    image move together, so a test that counts cells as units finds one often; the
    cluster bootstrap rarely does."""
    naive, clustered = 0, 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        clusters = np.repeat(np.arange(12), 20)
        x = np.repeat(rng.normal(size=12), 20) + rng.normal(0, 0.3, 240)
        y = np.repeat(rng.normal(size=12), 20) + rng.normal(0, 0.3, 240)
        naive += scipy_stats.pearsonr(x, y).pvalue < 0.05

        def corr(rows, x=x, y=y):
            return np.corrcoef(x[rows], y[rows])[0, 1]

        clustered += cluster_bootstrap(corr, 240, clusters).p < 0.05
    assert naive >= 8 and clustered <= 4
