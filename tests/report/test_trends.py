"""Trends over K and v, with tests that resample source images."""

from sine_bench.report import trends as tr
from tests.report.synthetic import sweep


def test_trend_direction_and_verdict():
    cells = sweep("K", list(range(0, 1001, 100)), +1)
    trends = {t.metric: t for t in tr.sweep_trends(cells, "K")}
    assert trends["clip_t[toy]"].verdict == "holds" and trends["clip_t[toy]"].rho > 0.8
    assert trends["st_lpips[alex]"].verdict == "holds"  # the lpips family finds st_lpips
    assert trends["oracle_preserved"].verdict == "holds" and trends["oracle_preserved"].rho < 0
    assert trends["clip_t[toy]"].first < trends["clip_t[toy]"].last

    reversed_cells = sweep("K", list(range(0, 1001, 100)), -1)
    flipped = {t.metric: t.verdict for t in tr.sweep_trends(reversed_cells, "K")}
    assert flipped["clip_t[toy]"] == "reversed" and flipped["oracle_preserved"] == "reversed"


def test_constant_metric_is_flat():
    cells = sweep("v", [0.0, 0.5, 1.0], +1).assign(**{"clip_t[toy]": 5.0})
    assert tr.trend(cells, "v", "clip_t[toy]", +1).verdict == "flat"


def test_one_image_cannot_make_a_trend_significant():
    """A strong trend in a single source image says nothing about another image."""
    cells = sweep("K", list(range(0, 1001, 100)), +1, n_items=1)
    clip_t = next(t for t in tr.sweep_trends(cells, "K") if t.metric == "clip_t[toy]")
    assert clip_t.rho > 0.8 and clip_t.images == 1
    assert clip_t.verdict == "holds (not significant)"
