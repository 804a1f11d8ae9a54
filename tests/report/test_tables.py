"""Summary statistics: bootstrap intervals and per-axis tables."""

import math

import numpy as np
import pandas as pd

from sine_bench.report.tables import bootstrap_ci, summarize, to_markdown


def test_bootstrap_ci_brackets_the_mean_and_ignores_nan():
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    lo, hi = bootstrap_ci(values)
    assert lo <= 2.5 <= hi and lo >= 1.0 and hi <= 4.0
    assert bootstrap_ci(np.array([5.0])) == (5.0, 5.0)
    assert all(math.isnan(x) for x in bootstrap_ci(np.array([np.nan])))
    assert bootstrap_ci(values) == bootstrap_ci(values)  # seeded


def test_summarize_per_axis_and_markdown():
    cells = pd.DataFrame({"v": [0.1, 0.1, 0.9, 0.9], "m": [1.0, 3.0, 5.0, 7.0]})
    summary = summarize(cells, ["v"], ["m"])
    assert list(summary["m"]) == [2.0, 6.0] and list(summary["n"]) == [2, 2]
    text = to_markdown(summary, ["v"], ["m"])
    assert "| v | n | m |" in text and "| 0.1 | 2 | 2 [" in text
