"""The reproduction analysis on synthetic cells tables whose trends are known."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.report import reproduction as rep

RNG = np.random.default_rng(0)


def _sweep(axis: str, values, sign: int, n_items: int = 6) -> pd.DataFrame:
    """Cells where clip_t and LPIPS move with ``axis`` in direction ``sign``, preserved
    against it, plus noise; the other of v/K fixed."""
    rows = []
    for item in range(n_items):
        for value in values:
            x = sign * float(value) / max(values)
            rows.append(
                {
                    "item": f"s{item}",
                    "prompt_index": 0,
                    "prompt": "a large red circle on a blue background",
                    "seed": 0,
                    "v": float(value) if axis == "v" else 0.7,
                    "K": int(value) if axis == "K" else 400,
                    "resolution": "native",
                    "finetune.method": "sine-full",
                    "height": 64,
                    "width": 64,
                    "edit_key": f"{axis}{item}-{value}",
                    "clip_t[toy]": 30 + 20 * x + RNG.normal(0, 1),
                    "st_lpips[alex]": 0.3 + 0.2 * x + RNG.normal(0, 0.01),
                    "oracle_preserved": 0.9 - 0.3 * x + RNG.normal(0, 0.02),
                }
            )
    return pd.DataFrame(rows)


def test_trend_direction_and_verdict():
    cells = _sweep("K", list(range(0, 1001, 100)), +1)
    trends = {t.metric: t for t in rep.sweep_trends(cells, "K")}
    assert trends["clip_t[toy]"].verdict == "holds" and trends["clip_t[toy]"].rho > 0.8
    assert trends["st_lpips[alex]"].verdict == "holds"  # the lpips family finds st_lpips
    assert trends["oracle_preserved"].verdict == "holds" and trends["oracle_preserved"].rho < 0
    assert trends["clip_t[toy]"].first < trends["clip_t[toy]"].last

    reversed_cells = _sweep("K", list(range(0, 1001, 100)), -1)
    flipped = {t.metric: t.verdict for t in rep.sweep_trends(reversed_cells, "K")}
    assert flipped["clip_t[toy]"] == "reversed" and flipped["oracle_preserved"] == "reversed"


def test_constant_metric_is_flat():
    cells = _sweep("v", [0.0, 0.5, 1.0], +1).assign(**{"clip_t[toy]": 5.0})
    assert rep.trend(cells, "v", "clip_t[toy]", +1).verdict == "flat"


def test_auroc_matches_pair_counting():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    labels = np.array([False, True, False, True, False])
    # positives 0.4, 0.8 vs negatives 0.1, 0.35, 0.4: 5 wins, 1 tie of 6 pairs
    assert rep.auroc(scores, labels) == pytest.approx(5.5 / 6)
    assert rep.auroc(scores, ~labels) == pytest.approx(0.5 / 6)
    assert np.isnan(rep.auroc(scores, np.zeros(5, bool)))


def test_metric_validity_counts_shared_edits_once():
    success = np.array([0.0, 1.0, 0.0, 1.0])
    cells = pd.DataFrame(
        {
            "edit_key": ["a", "b", "c", "d"],
            "clip_t[toy]": [10.0, 30.0, 12.0, 35.0],
            "oracle_edit_success": success,
            "lpips[alex]": [0.1, 0.5, 0.2, 0.6],
            "oracle_preserved": [1.0, 0.4, 0.8, 0.2],
        }
    )
    doubled = pd.concat([cells, cells.iloc[:1]])  # a cell shared by two runs
    out = rep.metric_validity(doubled)
    assert out["clip_t_auroc_for_edit_success"] == 1.0 and out["edit_success_cells"] == 4
    assert out["lpips_vs_preserved_spearman"] == pytest.approx(-1.0)


def _nonsquare_cells() -> pd.DataFrame:
    """sine-full duplicates (count 2 for a 1-object caption) at non-square sizes in 5
    of 6 scenes; sine-patch in 0; nobody at the square size."""
    rows = []
    for item in range(6):
        for method in ("sine-full", "sine-patch"):
            for h, w in ((64, 64), (64, 128), (128, 64)):
                dup = method == "sine-full" and h != w and item < 5
                rows.append(
                    {
                        "item": f"s{item}",
                        "prompt_index": 0,
                        "prompt": "a large red circle on a blue background",
                        "seed": 0,
                        "v": 0.7,
                        "K": 400,
                        "finetune.method": method,
                        "height": h,
                        "width": w,
                        "oracle_count": 2.0 if dup else 1.0,
                    }
                )
    return pd.DataFrame(rows)


def test_duplication_table_and_paired_test():
    cells = _nonsquare_cells()
    table = rep.duplication_table(cells).set_index(["finetune.method", "size"])
    assert table.loc[("sine-full", "64x128"), "duplication_rate"] == pytest.approx(5 / 6)
    assert table.loc[("sine-patch", "64x128"), "duplication_rate"] == 0.0
    assert table.loc[("sine-full", "64x64"), "count_error"] == 0.0
    assert (table["caption_count"] == 1.0).all()
    nonsquare = rep.patch_vs_full(cells, square=False)
    assert (nonsquare.pairs, nonsquare.full_only, nonsquare.patch_only) == (12, 10, 0)
    assert nonsquare.verdict == "holds" and nonsquare.p < 0.01
    assert rep.patch_vs_full(cells, square=True).verdict == "no difference"


def test_swept_fine_tune_steps_are_kept_apart():
    short = _nonsquare_cells().assign(**{"finetune.steps": 150})
    long = _nonsquare_cells().assign(**{"finetune.steps": 600})
    long.loc[long["finetune.method"] == "sine-full", "oracle_count"] = 1.0  # no duplicates
    cells = pd.concat([short, long], ignore_index=True)
    table = rep.duplication_table(cells).set_index(["finetune.steps", "finetune.method", "size"])
    assert table.loc[(150, "sine-full", "64x128"), "duplication_rate"] == pytest.approx(5 / 6)
    assert table.loc[(600, "sine-full", "64x128"), "duplication_rate"] == 0.0
    result = rep.analyse(cells)
    by_setting = {
        t.setting: t for t in result.paired if t.sizes == "non-square" and t.measure == "duplicated"
    }
    assert by_setting["v=0.7, K=400, steps=150"].full_only == 10
    assert by_setting["v=0.7, K=400, steps=600"].pairs == 12
    assert by_setting["v=0.7, K=400, steps=600"].verdict == "no difference"


def test_caption_count_reads_toy_captions_only():
    assert (
        rep.caption_count("a small red circle and a large blue square on a green background") == 2
    )
    assert np.isnan(rep.caption_count("a photo of a dog wearing a hat"))


def _write_run(folder, cells: pd.DataFrame, protocol: dict, images: dict | None = None):
    folder.mkdir(parents=True)
    cells.to_csv(folder / "cells.csv", index=False)
    (folder / "protocol.yaml").write_text(yaml.safe_dump(protocol))
    for name, color in (images or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), color).save(path)
    return folder


def _overfit_cells() -> tuple[pd.DataFrame, dict]:
    """Fine-tuned only: the same image for both prompts, close to the source; SINE and
    pretrained: a different image per prompt."""
    rows, images = [], {}
    for v, k, lpips, success in ((0.0, 0, 0.05, 0.0), (0.7, 400, 0.3, 0.7), (1.0, 400, 0.6, 0.9)):
        for p in (0, 1):
            image = f"images/edits/v{v}-p{p}.png"
            images[image] = (255, 0, 0) if v == 0.0 else (0, 255 * p, 100)
            rows.append(
                {
                    "item": "s0",
                    "prompt_index": p,
                    "prompt": f"prompt {p}",
                    "seed": 0,
                    "v": v,
                    "K": k,
                    "resolution": "native",
                    "height": 8,
                    "width": 8,
                    "edit_key": f"{v}-{k}-{p}",
                    "image": image,
                    "lpips[alex]": lpips,
                    "oracle_edit_success": success,
                    "oracle_preserved": 1.0 - lpips,
                    "clip_t[toy]": 10 + 50 * success,
                }
            )
    return pd.DataFrame(rows), images


def test_overfit_table_from_run_dirs(tmp_path):
    cells, images = _overfit_cells()
    run = _write_run(
        tmp_path / "run", cells, {"name": "ov", "finetune": {"method": "sine-full"}}, images
    )
    loaded = rep.load_run(run)
    assert (loaded["finetune.method"] == "sine-full").all() and (loaded["run"] == "ov").all()
    result = rep.analyse(loaded)
    table = result.overfit.set_index("role")
    ft = table.loc["fine-tuned only (v=0, K=0)"]
    assert ft["identical_across_prompts"] == 1.0
    assert table.loc["SINE (v=0.7, K=400)", "identical_across_prompts"] == 0.0
    assert ft["lpips[alex]"] == pytest.approx(0.05)
    assert all(v.startswith("holds") for v in result.overfit_checks.values())
    assert result.endpoints["fine_tuned_only_identical_across_prompts"] == 1.0


def test_pretrained_equivalence_compares_v1_with_k1000():
    cells = _sweep("K", [0, 500, 1000], +1)
    v1 = cells[cells["K"] == 1000].assign(v=1.0, K=400)
    pooled = pd.concat([cells, v1])
    out = rep.pretrained_equivalence(pooled, "clip_t[toy]")
    assert out == {"pairs": 6, "max_abs_diff": 0.0}
    v1["clip_t[toy]"] += 1.5
    assert rep.pretrained_equivalence(pd.concat([cells, v1]), "clip_t[toy]")["max_abs_diff"] == 1.5


def test_load_run_without_table_is_an_error(tmp_path):
    with pytest.raises(rep.ReproductionError, match="no cells.parquet or cells.csv"):
        rep.load_run(tmp_path)


def test_cli_writes_report_json_and_plots(tmp_path):
    run = _write_run(tmp_path / "k", _sweep("K", list(range(0, 1001, 250)), +1), {"name": "k"})
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["reproduce-report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "reproduction.json").read_text())
    [trends] = data["trends"].values()
    assert {t["metric"]: t["verdict"] for t in trends}["clip_t[toy]"] == "holds"
    assert list(out.glob("trend_K_*.png"))
    bad = CliRunner().invoke(app, ["reproduce-report", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "not a run directory" in bad.output


def test_extra_same_color_objects_counts_duplicates_not_other_colors():
    from sine_bench.toy.scenes import Scene, SceneObject, render

    one = SceneObject("circle", "red", "large", 0.3, 0.5)
    twin = SceneObject("circle", "red", "large", 0.75, 0.5)
    other = SceneObject("square", "yellow", "small", 0.75, 0.5)
    caption = "a large red circle on a blue background"
    assert rep.extra_same_color_objects(render(Scene("blue", (one,)), 64, 128), caption) == 0
    doubled = render(Scene("blue", (one, twin)), 64, 128)
    assert rep.extra_same_color_objects(doubled, caption) == 1
    blotch = render(Scene("blue", (one, other)), 64, 128)  # an extra object of another colour
    assert rep.extra_same_color_objects(blotch, caption) == 0
    assert np.isnan(rep.extra_same_color_objects(doubled, "a photo of a dog"))
