"""The methods table: per method its best setting (by oracle_faithful) and its range,
intervals over source images, costs per source image and per edit."""

import math

import numpy as np
import pandas as pd

from sine_bench.report.methods import methods_table, to_markdown


def _cells() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for item in ("a", "b", "c"):
        for seed in (0, 1):
            for v, faithful in ((0.2, 1.0), (0.7, 0.0)):
                rows.append(
                    dict(
                        method="sine",
                        v=v,
                        s=math.nan,
                        item=item,
                        seed=seed,
                        prompt_index=0,
                        oracle_faithful=faithful,
                        psnr=rng.normal(20),
                        finetune_key=f"ft-{item}",
                        **{
                            "cost.train_steps": 150,
                            "cost.train_seconds": 10.0,
                            "cost.unet_evaluations": 25,
                            "cost.edit_seconds": 0.1,
                        },
                    )
                )
            for s, faithful in ((0.3, 0.5), (0.9, 0.0)):
                rows.append(
                    dict(
                        method="sdedit",
                        v=math.nan,
                        s=s,
                        item=item,
                        seed=seed,
                        prompt_index=0,
                        oracle_faithful=faithful if item != "c" else 1.0,
                        psnr=rng.normal(20),
                        finetune_key="",
                        **{
                            "cost.train_steps": 0,
                            "cost.train_seconds": 0.0,
                            "cost.unet_evaluations": 10,
                            "cost.edit_seconds": 0.05,
                        },
                    )
                )
    return pd.DataFrame(rows)


def test_best_and_range_per_method():
    table = methods_table(_cells(), ["method", "v", "s", "seed"], ["oracle_faithful", "psnr"])
    rows = {(r.method, r.row): r for r in table.itertuples()}
    assert rows[("sine", "best")].setting == "v=0.2" and rows[("sine", "best")].oracle_faithful == 1
    assert rows[("sine", "range")].oracle_faithful == 0.5 and rows[("sine", "range")].n == 12
    assert rows[("sine", "range")].oracle_faithful_min == 0.0
    assert rows[("sine", "range")].oracle_faithful_max == 1.0
    best = rows[("sdedit", "best")]
    assert best.setting == "s=0.3" and math.isclose(best.oracle_faithful, 2 / 3)
    assert best.oracle_faithful_lo <= best.oracle_faithful <= best.oracle_faithful_hi
    assert rows[("sine", "best")].train_steps_per_image == 150  # one fine-tune per image
    assert rows[("sdedit", "range")].train_steps_per_image == 0
    assert rows[("sdedit", "range")].unet_evaluations_per_edit == 10
    text = to_markdown(table, ["oracle_faithful", "psnr"])
    assert "| sine | best | v=0.2 | 6 | 3 | 1 [1, 1]" in text


def test_each_best_setting_is_compared_with_sines_on_the_same_source_prompt_pairs():
    from sine_bench.report.methods import versus, versus_markdown

    table = versus(_cells(), ["method", "v", "s", "seed"], ["oracle_faithful"])
    row = table.set_index("method").loc["sdedit"]
    assert row["setting"] == "s=0.3" and row["versus"] == "sine: v=0.2" and row["pairs"] == 3
    # sdedit's best: 0.5 on a and b, 1.0 on c; SINE's best: 1.0 everywhere
    assert math.isclose(row["oracle_faithful"], (2 * -0.5 + 0.0) / 3)
    assert row["oracle_faithful_lo"] <= row["oracle_faithful"] <= row["oracle_faithful_hi"] <= 0
    assert "| sdedit | s=0.3 | sine: v=0.2 | 3 | -0.333" in versus_markdown(
        table, ["oracle_faithful"]
    )


def test_a_deterministic_method_is_paired_with_the_mean_of_sines_seeds():
    """Its seeds are one image (counted once: one row per source and prompt); pairing
    seed by seed would keep only SINE's seed-0 cells."""
    from sine_bench.report.methods import versus

    cells = _cells()
    sine = cells[cells["method"] == "sine"].copy()
    sine.loc[(sine["seed"] == 1) & (sine["v"] == 0.2), "oracle_faithful"] = 0.0
    once = pd.DataFrame(
        [
            dict(method="ddim-inversion", v=math.nan, s=math.nan, g=5.0, item=i, seed=0)
            | dict(prompt_index=0, oracle_faithful=1.0)
            for i in ("a", "b", "c")
        ]
    )
    table = versus(pd.concat([sine, once]), ["method", "v", "s", "g", "seed"], ["oracle_faithful"])
    row = table.set_index("method").loc["ddim-inversion"]
    assert row["pairs"] == 3 and math.isclose(row["oracle_faithful"], 1.0 - 0.5)
