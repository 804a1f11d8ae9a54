"""Summary statistics: per-axis tables with intervals over source images."""

import math

import pandas as pd

from sine_bench.report.tables import summarize, to_markdown


def test_summarize_per_axis_and_markdown():
    cells = pd.DataFrame(
        {"item": ["a", "b", "a", "b"], "v": [0.1, 0.1, 0.9, 0.9], "m": [1.0, 3.0, 5.0, 7.0]}
    )
    summary = summarize(cells, ["v"], ["m"])
    assert list(summary["m"]) == [2.0, 6.0] and list(summary["n"]) == [2, 2]
    assert list(summary["images"]) == [2, 2]
    assert summary["m_lo"][0] <= 2.0 <= summary["m_hi"][0]
    text = to_markdown(summary, ["v"], ["m"])
    assert "| v | n | images | m |" in text and "| 0.1 | 2 | 2 | 2 [" in text


def test_one_source_image_has_no_interval():
    cells = pd.DataFrame({"item": ["a"] * 4, "v": [0.1] * 4, "m": [1.0, 2.0, 3.0, 4.0]})
    summary = summarize(cells, ["v"], ["m"])
    assert summary["m"][0] == 2.5 and math.isnan(summary["m_lo"][0])
