"""An edit score's validity per subgroup: each edit counted once, AUROC and the share of
faithful edits below a threshold per named subset, and each method's best setting by the
score against the oracle's."""

import numpy as np
import pandas as pd
import pytest

from sine_bench.report import score_subgroups as sg

SCORE = "edit_score[toy+st_lpips-alex]"


def _cells() -> pd.DataFrame:
    """Two methods on six images: ``good`` settings are faithful, the score separates
    them perfectly in method a and not at all in method b (constant score); b is
    deterministic, so its two seeds share an edit key."""
    rows = []
    for item in range(6):
        for method, knob in [("a", 0.2), ("a", 0.7), ("b", 1.0), ("b", 5.0)]:
            for seed in (0, 1):
                faithful = float(knob in (0.2, 5.0))
                score = (1.3 if faithful else 0.6) if method == "a" else 1.0
                key = f"{item}-{method}-{knob}" + (f"-{seed}" if method == "a" else "")
                rows.append(
                    {
                        "item": f"s{item}",
                        "prompt_index": 0,
                        "seed": seed,
                        "method": method,
                        "v": knob if method == "a" else np.nan,
                        "guidance": knob if method == "b" else np.nan,
                        "edit_key": key,
                        "oracle_faithful": faithful,
                        SCORE: score,
                        "clip_t[toy]": 20.0 + knob,
                    }
                )
    return pd.DataFrame(rows)


def test_each_edit_counts_once():
    cells = _cells()
    assert len(cells) == 48 and len(sg.once_per_edit(cells)) == 36  # b's seeds collapse


def test_subgroups_separate_a_valid_method_from_a_blind_one():
    cells = _cells()
    groups = {m: cells["method"] == m for m in ("a", "b")}
    table = sg.subgroup_table(cells, groups, compared=["clip_t[toy]"]).set_index("scope")
    assert table.loc["a", "edits"] == 24 and table.loc["b", "edits"] == 12
    assert table.loc["a", f"auroc {SCORE}"] == 1.0
    assert table.loc["b", f"auroc {SCORE}"] == 0.5  # a constant score: chance
    assert table.loc["a", "faithful below"] == 0.0  # faithful a edits score 1.3
    assert table.loc["b", "faithful below"] == 1.0  # faithful b edits score 1.0 < 1.1
    assert table.loc["a", "images"] == 6 and table.loc["a", "faithful"] == 0.5


def test_best_setting_by_score_against_the_oracle():
    best = sg.best_settings(_cells()).set_index("method")
    assert best.loc["a", "best by score"] == "v=0.2"
    assert best.loc["a", "best by oracle"] == "v=0.2" and best.loc["a", "its faithful rate"] == 1
    # b's score is flat: its pick (the first setting) is not the oracle's best
    assert best.loc["b", "best by oracle"] == "guidance=5.0"
    assert best.loc["b", "its faithful rate"] == 0.0


def test_setting_rank_per_subset():
    cells = _cells()
    table = sg.setting_rank_table(cells, {"all": cells["method"].notna()})
    assert table.loc[0, "settings"] == 4


def test_score_column_must_be_unique():
    with pytest.raises(ValueError, match="expected one edit_score column"):
        sg.score_column(pd.DataFrame({"psnr": [1.0]}))
