"""Metric validity against the oracle: oriented AUROCs and Spearmans with image-level
intervals, per run and pooled."""

import numpy as np
import pandas as pd
import pytest

from sine_bench.report import validity as val
from sine_bench.report.reproduction import analyse, to_markdown


def _cells(n_items: int = 8, per_item: int = 30, seed: int = 0) -> pd.DataFrame:
    """LPIPS tracks the offset (a lost structure is far), PSNR says nothing (constant);
    clip_t tracks edit success but not faithfulness."""
    rng = np.random.default_rng(seed)
    rows = []
    for item in range(n_items):
        for k in range(per_item):
            offset = rng.uniform(0, 0.4)
            success = float(rng.random() < 0.7)
            rows.append(
                {
                    "item": f"s{item}",
                    "edit_key": f"{item}-{k}",
                    "run": "a" if k % 2 else "b",
                    "oracle_offset": offset,
                    "oracle_structure": float(offset <= 0.1),
                    "oracle_edit_success": success,
                    "oracle_faithful": success * float(offset <= 0.1),
                    "st_lpips[alex]": offset + rng.normal(0, 0.03),
                    "psnr": 20.0,
                    "clip_t[toy]": 20 + 10 * success + rng.normal(0, 1),
                }
            )
    return pd.DataFrame(rows)


def _get(table, metric, predicts, scope="pooled"):
    row = table[(table.metric == metric) & (table.predicts == predicts) & (table.scope == scope)]
    return row.iloc[0]


def test_auroc_matches_pair_counting_and_is_oriented():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    labels = np.array([False, True, False, True, False])
    clusters = ["a", "a", "b", "b", "b"]
    # positives 0.4, 0.8 vs negatives 0.1, 0.35, 0.4: 5 wins and 1 tie of 6 pairs
    assert val.auroc_estimate(scores, labels, clusters).value == pytest.approx(5.5 / 6)
    assert val.auroc_estimate(scores, ~labels, clusters).value == pytest.approx(0.5 / 6)
    assert np.isnan(val.auroc_estimate(scores, np.zeros(5, bool), clusters).value)
    lpips = pd.DataFrame({"st_lpips[alex]": [0.1, 0.5]})
    assert list(val.oriented(lpips, "st_lpips[alex]")) == [-0.1, -0.5]  # lower is closer


def test_validity_separates_a_good_fidelity_metric_from_noise():
    table = val.validity(_cells())
    lpips = _get(table, "st_lpips[alex]", val.STRUCTURE.name)
    noise = _get(table, "psnr", val.STRUCTURE.name)
    assert lpips.value > 0.9 and lpips.lo > 0.8 and lpips.images == 8
    assert noise.value == 0.5 and noise.lo == 0.5 == noise.hi  # all ties: chance
    assert _get(table, "st_lpips[alex]", val.OFFSET.name).value > 0.9  # rises with offset
    clip_success = _get(table, "clip_t[toy]", val.SUCCESS.name)
    clip_faithful = _get(table, "clip_t[toy]", val.FAITHFUL.name)
    assert clip_success.value > 0.95 and clip_faithful.value < clip_success.value - 0.1
    assert set(table.scope) == {"a", "b", "pooled"}
    assert val.trusted_fidelity_metric(table) == "st_lpips[alex]"


def test_bootstrap_interval_is_exact_per_resample():
    """The fast per-cluster-pair AUROC equals recomputing it on a resampled table."""
    cells = _cells(n_items=4, per_item=10)
    scores = -cells["st_lpips[alex]"].to_numpy()
    labels = cells["oracle_structure"].to_numpy() >= 1
    resample = ["s0", "s0", "s2", "s3"]
    rows = np.concatenate([np.flatnonzero(cells.item == c) for c in resample])
    direct = val.auroc_estimate(scores[rows], labels[rows], [f"r{i}" for i in range(len(rows))])
    counts = np.array([2, 0, 1, 1], dtype=float)
    groups = [np.flatnonzero(cells.item == c) for c in ["s0", "s1", "s2", "s3"]]
    n_pos = np.array([labels[g].sum() for g in groups], dtype=float)
    n_neg = np.array([(~labels[g]).sum() for g in groups], dtype=float)
    wins = np.array(
        [
            [
                ((scores[gi][labels[gi]][:, None] - scores[gj][~labels[gj]][None]) > 0).sum()
                + 0.5 * (scores[gi][labels[gi]][:, None] == scores[gj][~labels[gj]][None]).sum()
                for gj in groups
            ]
            for gi in groups
        ]
    )
    fast = counts @ wins @ counts / ((counts @ n_pos) * (counts @ n_neg))
    assert fast == pytest.approx(direct.value)


def test_reproduce_report_prints_the_validity_table():
    result = analyse(_cells().assign(v=0.7, K=400, **{"finetune.method": "sine-full"}))
    text = to_markdown(result)
    assert "## Metric validity against the oracle" in text
    assert "oracle_structure = 1" in text and "best pooled AUROC" in text


def test_metrics_without_a_direction_are_not_oriented_nor_asked():
    """PIE-Bench's edit-region columns are diagnostics: reading them as lower-is-better
    would rank a changed edit region as a lost structure."""
    from sine_bench.metrics.families import FAMILIES

    assert all(FAMILIES.get(f).direction is not None for f in val.FIDELITY_FAMILIES)
    assert "psnr_bg_pie" in val.FIDELITY_FAMILIES and "psnr_edit_pie" not in val.FIDELITY_FAMILIES
    cells = _cells(n_items=4, per_item=6)[["item", "oracle_structure", "psnr"]]
    cells["psnr_edit_pie"] = cells["psnr"]
    with pytest.raises(ValueError, match="psnr_edit_pie: its family has no better direction"):
        val.oriented(cells, "psnr_edit_pie")
    assert list(val.oriented(cells, "psnr")) == list(cells["psnr"])
    assert set(val.validity_table(cells, "pooled").metric) == {"psnr"}
