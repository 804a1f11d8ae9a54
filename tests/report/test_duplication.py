"""Claim (c): duplication per method and size; the paired test resamples images."""

import numpy as np
import pandas as pd
import pytest

from sine_bench.report import duplication as dup
from sine_bench.report.reproduction import analyse
from tests.report.synthetic import nonsquare_cells


def test_duplication_table_and_paired_test():
    cells = nonsquare_cells()
    table = dup.duplication_table(cells).set_index(["finetune.method", "size"])
    assert table.loc[("sine-full", "64x128"), "duplication_rate"] == pytest.approx(5 / 6)
    assert table.loc[("sine-patch", "64x128"), "duplication_rate"] == 0.0
    assert table.loc[("sine-full", "64x64"), "count_error"] == 0.0
    assert (table["caption_count"] == 1.0).all()
    nonsquare = dup.patch_vs_full(cells, square=False)
    assert (nonsquare.pairs, nonsquare.full_only, nonsquare.patch_only) == (12, 10, 0)
    assert nonsquare.verdict == "holds" and nonsquare.p < 0.01
    assert dup.patch_vs_full(cells, square=True).verdict == "no difference"


def test_swept_fine_tune_steps_are_kept_apart(tmp_path):
    short = nonsquare_cells().assign(**{"finetune.steps": 150})
    long = nonsquare_cells().assign(**{"finetune.steps": 600})
    long.loc[long["finetune.method"] == "sine-full", "oracle_count"] = 1.0  # no duplicates
    cells = pd.concat([short, long], ignore_index=True)
    table = dup.duplication_table(cells).set_index(["finetune.steps", "finetune.method", "size"])
    assert table.loc[(150, "sine-full", "64x128"), "duplication_rate"] == pytest.approx(5 / 6)
    assert table.loc[(600, "sine-full", "64x128"), "duplication_rate"] == 0.0
    result = analyse(cells)
    by_setting = {
        t.setting: t for t in result.paired if t.sizes == "non-square" and t.measure == "duplicated"
    }
    assert by_setting["v=0.7, K=400, steps=150"].full_only == 10
    assert by_setting["v=0.7, K=400, steps=600"].pairs == 12
    assert by_setting["v=0.7, K=400, steps=600"].verdict == "no difference"
    plotted = dup.plot_duplication(dup.duplication_table(cells), ["x"], tmp_path / "d.png")
    assert plotted.is_file()  # one bar per (steps, method) and size


def test_caption_count_reads_toy_captions_only():
    assert (
        dup.caption_count("a small red circle and a large blue square on a green background") == 2
    )
    assert np.isnan(dup.caption_count("a photo of a dog wearing a hat"))


def test_extra_same_color_objects_counts_duplicates_not_other_colors():
    from sine_bench.toy.scenes import Scene, SceneObject, render

    one = SceneObject("circle", "red", "large", 0.3, 0.5)
    twin = SceneObject("circle", "red", "large", 0.75, 0.5)
    other = SceneObject("square", "yellow", "small", 0.75, 0.5)
    caption = "a large red circle on a blue background"
    assert dup.extra_same_color_objects(render(Scene("blue", (one,)), 64, 128), caption) == 0
    doubled = render(Scene("blue", (one, twin)), 64, 128)
    assert dup.extra_same_color_objects(doubled, caption) == 1
    blotch = render(Scene("blue", (one, other)), 64, 128)  # an extra object of another colour
    assert dup.extra_same_color_objects(blotch, caption) == 0
    assert np.isnan(dup.extra_same_color_objects(doubled, "a photo of a dog"))
