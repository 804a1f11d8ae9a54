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


def _methods_cells() -> pd.DataFrame:
    """Two methods x 4 source images x 2 seeds: sine's seeds are different edits,
    ddim-inversion's the same edit (one key, one value) under both seeds."""
    rows = []
    for item in range(4):
        for seed in (0, 1):
            for method in ("sine", "ddim-inversion"):
                deterministic = method == "ddim-inversion"
                key = f"{method}-{item}" + ("" if deterministic else f"-{seed}")
                value = item / 4 + (0.0 if deterministic else 0.1 * seed)
                rows.append(
                    {
                        "item": f"s{item}",
                        "prompt_index": 0,
                        "prompt": "p",
                        "method": method,
                        "seed": seed,
                        "v": 0.5 if method == "sine" else math.nan,
                        "edit_key": key,
                        "finetune_key": "",
                        "psnr": value,
                    }
                )
    return pd.DataFrame(rows)


def test_a_deterministic_method_counts_each_image_once(tmp_path):
    """ddim-inversion's two "seeds" are one image: every table pooling seeds counted it
    twice (n = 8 where 4 images were made)."""
    import json

    from sine_bench.report.frontier import settings_table
    from sine_bench.report.stats import count_once
    from sine_bench.report.tables import write_tables

    cells, axes = _methods_cells(), ["method", "v", "seed"]
    counted = count_once(cells, axes)
    assert (counted["method"] == "ddim-inversion").sum() == 4
    assert (counted["method"] == "sine").sum() == 8  # its seeds' edits differ: all kept
    table = settings_table(cells, axes).set_index("method")
    assert table.loc["ddim-inversion", "n"] == 4 and table.loc["sine", "n"] == 8
    write_tables(cells, axes, tmp_path)
    by_method = pd.read_csv(tmp_path / "summary" / "method.csv").set_index("method")
    assert by_method.loc["ddim-inversion", "n"] == 4 and by_method.loc["sine", "n"] == 8
    setting = pd.read_csv(tmp_path / "summary" / "setting.csv").set_index("method")
    assert setting.loc["ddim-inversion", "n"] == 4
    # summary.json (what compare checks) is per seed: each seed's row is its own
    rows = json.loads((tmp_path / "summary.json").read_text())["rows"]
    ddim = [r for r in rows if r["axes"]["method"] == "ddim-inversion"]
    assert sorted(r["axes"]["seed"] for r in ddim) == [0, 1] and all(r["n"] == 4 for r in ddim)
    # the interval is the one of 4 images, not of 8 copies (copies would narrow it)
    once = summarize(counted[counted["method"] == "ddim-inversion"], ["method"], ["psnr"])
    assert by_method.loc["ddim-inversion", "psnr_lo"] == once["psnr_lo"].iloc[0]
