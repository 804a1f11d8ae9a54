"""A joint score's validity: AUROC for oracle_faithful and the per-setting rank
correlation with the faithful rate, intervals over source images."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sine_bench.report import score_validity as sv


def _cells(n_items: int = 6, seed: int = 0) -> pd.DataFrame:
    """Settings v = 0 .. 1: the faithful rate peaks at v = 0.4; ``good`` tracks it,
    clip_t rises with v (it rewards regenerations), LPIPS rises with v."""
    rng = np.random.default_rng(seed)
    rows = []
    for item in range(n_items):
        for v in (0.0, 0.2, 0.4, 0.7, 1.0):
            rate = 1.0 - 2.0 * abs(v - 0.4)
            for s in range(4):
                faithful = float(rng.random() < max(rate, 0.0))
                rows.append(
                    {
                        "cell_id": f"{item}-{v}-{s}",
                        "item": f"s{item}",
                        "prompt_index": 0,
                        "prompt": "p",
                        "v": v,
                        "K": 400,
                        "seed": s,
                        "height": 64,
                        "width": 64,
                        "edit_key": f"{item}-{v}-{s}",
                        "oracle_faithful": faithful,
                        "edit_score[toy+st_lpips-alex]": faithful + rng.normal(0, 0.3),
                        "clip_t[toy]": 20 + 10 * v + rng.normal(0, 1),
                        "st_lpips[alex]": 0.1 + 0.4 * v + rng.normal(0, 0.02),
                    }
                )
    return pd.DataFrame(rows)


def test_setting_columns_are_the_grid_axes_without_seed():
    cells = _cells()
    assert sv.setting_columns(cells) == ["v", "K"]
    pooled = pd.concat([cells.assign(run="a"), cells.assign(run="b")])
    assert sv.setting_columns(pooled) == ["run", "v", "K"]


def test_setting_rank_matches_direct_spearman_and_a_resample():
    cells = _cells()
    score = cells["edit_score[toy+st_lpips-alex]"].to_numpy()
    truth = cells["oracle_faithful"].to_numpy()
    settings = cells["v"].astype(str).to_numpy()
    est = sv.setting_rank_estimate(score, truth, settings, cells["item"].tolist())
    means = cells.groupby("v")[["edit_score[toy+st_lpips-alex]", "oracle_faithful"]].mean()
    direct = stats.spearmanr(means.iloc[:, 0], means.iloc[:, 1])[0]
    assert est.value == pytest.approx(direct)
    assert est.lo <= est.value <= est.hi and est.clusters == 6
    # one resample (items s0, s0, s3) recomputed the slow way equals the weighted form
    part = pd.concat([cells[cells.item == "s0"]] * 2 + [cells[cells.item == "s3"]])
    slow = part.groupby("v")[["edit_score[toy+st_lpips-alex]", "oracle_faithful"]].mean()
    sums, hits, counts = sv.setting_sums(score, truth, settings, cells["item"].tolist())
    weights = np.array([2, 0, 0, 1, 0, 0], dtype=float)
    assert sv.weighted_rho(weights, sums, hits, counts) == pytest.approx(
        stats.spearmanr(slow.iloc[:, 0], slow.iloc[:, 1])[0]
    )


def test_a_faithful_score_beats_clip_t_per_cell_and_per_setting():
    table = sv.score_validity(_cells())
    pooled = table[table.scope == "pooled"].set_index("metric")
    assert list(pooled.index)[0] == "edit_score[toy+st_lpips-alex]"  # scores listed first
    score, clip = pooled.loc["edit_score[toy+st_lpips-alex]"], pooled.loc["clip_t[toy]"]
    assert score.auroc > 0.85 and score.auroc_lo > 0.75
    assert clip.auroc < 0.65
    assert score.setting_rho > 0.8 and score.settings == 5
    assert clip.setting_rho < 0.2  # the faithful rate peaks mid-range; clip_t only rises
    lpips = pooled.loc["st_lpips[alex]"]
    assert lpips.auroc > 0.5  # oriented: lower LPIPS counts as closer


def test_per_run_scopes_and_missing_oracle():
    cells = pd.concat([_cells().assign(run="a"), _cells(seed=1).assign(run="b")])
    cells["edit_key"] = cells["run"] + cells["edit_key"]
    table = sv.score_validity(cells)
    assert set(table.scope) == {"a", "b", "pooled"}
    pooled = table[(table.scope == "pooled")].set_index("metric")
    assert pooled.loc["clip_t[toy]", "settings"] == 10  # each run's settings kept apart
    assert sv.score_validity(_cells().drop(columns="oracle_faithful")).empty


def test_reproduce_report_prints_the_score_table():
    from sine_bench.report import reproduction

    cells = _cells().assign(**{"finetune.method": "sine-full"})
    result = reproduction.analyse(cells)
    assert result.scores is not None
    page = reproduction.to_markdown(result)
    assert "## Which score predicts a faithful edit" in page
    line = next(x for x in page.splitlines() if x.startswith("| edit_score[toy+st_lpips-alex]"))
    assert "pooled" in line and line.count("[") == 3  # name + two intervals
    assert result.to_json()["score_validity"][0]["metric"] == "edit_score[toy+st_lpips-alex]"


def test_a_methods_run_settings_ignore_costs_and_missing_knobs():
    """A methods run: knob columns are NaN for the other methods, cost columns differ per
    cell; settings are method x knobs, never a measured cost."""
    cells = _cells()
    cells["method"] = np.where(cells["v"] < 0.5, "sine", "sdedit")
    cells["sdedit.strength"] = np.where(cells["method"] == "sdedit", 0.5, np.nan)
    cells["cost.edit_seconds"] = np.arange(len(cells), dtype=float)
    assert "cost.edit_seconds" not in sv.setting_columns(cells)
    pooled = sv.score_validity(cells).set_index("metric")
    assert pooled.loc["edit_score[toy+st_lpips-alex]", "settings"] == 5
