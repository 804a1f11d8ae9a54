"""The frontier: settings with image-level intervals, references, Pareto front, best."""

import numpy as np
import pandas as pd
from PIL import Image

from sine_bench.report import frontier as fr
from sine_bench.report.frontier_html import frontier_section
from sine_bench.report.thumbs import THUMB_SIDE, data_uri

AXES = ["v", "K", "resolution", "seed"]


def _cells() -> pd.DataFrame:
    """v = 0.3 keeps the layout and edits (faithful); v = 0.7 edits by regenerating;
    v = 0 / K = 0 copies the source; v = 1 (two K, the same samples) regenerates."""
    outcome = {  # (v, K) -> (success, structure, clip_t, lpips)
        (0.0, 0): (0.0, 1.0, 20.0, 0.1),
        (0.3, 400): (1.0, 1.0, 28.0, 0.3),
        (0.7, 400): (1.0, 0.0, 31.0, 0.5),
        (1.0, 0): (1.0, 0.0, 32.0, 0.6),
        (1.0, 400): (1.0, 0.0, 32.0, 0.6),
    }
    rows = []
    for item in range(4):
        for seed in (0, 1):
            for (v, k), (success, structure, clip_t, lpips) in outcome.items():
                rows.append(
                    {
                        "item": f"s{item}",
                        "prompt": "p",
                        "prompt_index": 0,
                        "v": v,
                        "K": k,
                        "resolution": "native",
                        "seed": seed,
                        "image": f"images/edits/{item}-{v}-{k}-{seed}.png",
                        "oracle_edit_success": success,
                        "oracle_structure": structure,
                        "oracle_faithful": success * structure,
                        "clip_t[toy]": clip_t + item,
                        "st_lpips[alex]": lpips,
                    }
                )
    return pd.DataFrame(rows)


def test_settings_pool_seeds_and_label_the_references():
    table = fr.settings_table(_cells(), AXES).set_index(["v", "K"])
    assert list(table["n"]) == [8] * 4 and list(table["images"]) == [4] * 4
    assert table.loc[(0.0, 0), "role"] == fr.FINE_TUNED_ONLY
    # v = 1 at K = 0 and K = 400 is one pretrained sample: one row
    assert list(table.index[table["role"] == fr.PRETRAINED_ONLY]) == [(1.0, 400)]
    assert table.loc[(0.3, 400), "oracle_faithful"] == 1.0
    assert table["best"].sum() == 1 and table.loc[(0.3, 400), "best"]
    lo, hi = table.loc[(0.3, 400), ["clip_t[toy]_lo", "clip_t[toy]_hi"]]
    assert lo < 29.5 < hi  # the items differ in clip_t: the interval is over images


def test_pareto_front_and_the_regeneration_is_not_best():
    table = fr.settings_table(_cells(), AXES).set_index(["v", "K"])
    # oracle trade-off: structure vs success; v = 0.3 dominates the regenerations
    assert table.loc[(0.3, 400), "frontier"] and not table.loc[(0.7, 400), "frontier"]
    assert not table.loc[(1.0, 400), "frontier"]
    real = _cells().drop(columns=["oracle_edit_success", "oracle_structure", "oracle_faithful"])
    real_table = fr.settings_table(real, AXES).set_index(["v", "K"])
    # without an oracle: clip_t vs LPIPS, every point of this monotone trade-off is on it
    assert real_table["frontier"].all() and not real_table["best"].any()


def test_roles():
    assert fr.role({"v": 0.0, "K": 0}) == fr.FINE_TUNED_ONLY
    assert fr.role({"v": 0.4, "K": 1000}) == fr.PRETRAINED_ONLY
    assert fr.role({"v": 0.0, "K": 400}) == ""
    assert fr.role({"method": "pretrained"}) == fr.PRETRAINED_ONLY


def test_section_shows_references_beside_the_best(tmp_path):
    cells = _cells()
    for path in cells["image"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), "red").save(tmp_path / path)
    (tmp_path / "images" / "source").mkdir(parents=True)
    for item in cells["item"].unique():
        Image.new("RGB", (64, 64), "blue").save(tmp_path / "images" / "source" / f"{item}.png")
    html = frontier_section(cells, AXES, tmp_path)
    assert "&#9733; best" in html and "v=0.3 K=400" in html
    row = html[html.index("<table class=row>") :]
    assert row.index("fine-tuned only") < row.index("best setting") < row.index("pretrained only")
    assert 'href="images/edits/0-0.3-400-0.png"' in html  # thumbnails link to full size
    no_refs = cells[(cells.v > 0) & (cells.v < 1)]
    assert "has no fine-tuned only setting: add it" in frontier_section(no_refs, AXES, tmp_path)
    # edit_score computed SINE's fine-tuned-only samples (its anchors): the note says so
    # rather than that the run has none (a methods run's report said it had none)
    scored = no_refs.assign(**{"edit_score[toy+alex]": 1.0}, method="sine")
    note = frontier_section(scored, AXES, tmp_path)
    assert "were computed, as edit_score[toy+alex]'s anchors" in note
    assert "add v = 0 with K = 0 to the sine method's grid" in note
    assert "has no fine-tuned only setting: add it" not in note


def test_thumbnails_are_small_at_real_scale(tmp_path):
    big = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)).save(big)
    uri = data_uri(big)
    assert uri.startswith("data:image/jpeg") and len(uri) < big.stat().st_size / 8
    small = tmp_path / "small.png"
    Image.new("RGB", (THUMB_SIDE, 32), "red").save(small)
    assert data_uri(small).startswith("data:image/png")  # small PNGs stay exact


def _methods_cells() -> pd.DataFrame:
    """A methods run: SINE over v (v = 1 is the pretrained sample again), the pretrained
    method, and sdedit over its strength, whose settings all lose to SINE's v = 0.3."""
    outcome = {  # (method, v, strength) -> (success, structure, clip_t, lpips)
        ("sine", 0.3, None): (1.0, 1.0, 28.0, 0.3),
        ("sine", 0.7, None): (1.0, 0.5, 31.0, 0.5),
        ("sine", 1.0, None): (1.0, 0.0, 32.0, 0.6),
        ("pretrained", None, None): (1.0, 0.0, 32.0, 0.6),
        ("sdedit", None, 0.2): (0.0, 0.9, 20.0, 0.1),
        ("sdedit", None, 0.6): (0.5, 0.6, 25.0, 0.3),
        ("sdedit", None, 1.0): (1.0, 0.0, 31.0, 0.6),
    }
    rows = []
    for item in range(3):
        for seed in (0, 1):
            for (method, v, strength), (success, structure, clip_t, lpips) in outcome.items():
                rows.append(
                    {
                        "item": f"s{item}",
                        "prompt": "p",
                        "method": method,
                        "v": v,
                        "K": 400 if method == "sine" else None,
                        "sdedit.strength": strength,
                        "resolution": "native",
                        "seed": seed,
                        "image": f"images/edits/{method}-{v}-{strength}-{item}-{seed}.png",
                        "oracle_edit_success": success,
                        "oracle_structure": structure,
                        "oracle_faithful": success * structure,
                        "clip_t[toy]": clip_t,
                        "st_lpips[alex]": lpips,
                    }
                )
    return pd.DataFrame(rows)


def test_a_methods_run_has_a_row_and_a_frontier_per_method(tmp_path):
    cells = _methods_cells()
    axes = ["v", "K", "sdedit.strength", "resolution", "seed"]
    table = fr.settings_table(cells, axes)
    assert table.attrs["axes"] == ["method", "v", "K", "sdedit.strength", "resolution"]
    # one row per method x setting; SINE's v = 1 is the pretrained method's sample: one row
    assert table.groupby("method").size().to_dict() == {"pretrained": 1, "sdedit": 3, "sine": 2}
    pretrained = table[table["role"] == fr.PRETRAINED_ONLY]
    assert list(pretrained["method"]) == ["pretrained"] and (table["n"] == 6).all()
    by = {
        (r.method, r.v if r.method == "sine" else r["sdedit.strength"]): r
        for _, r in table.iterrows()
    }
    # sdedit's frontier is its own: strength 0.2 and 0.6 lose to SINE's v = 0.3 overall
    # (structure 1.0 and success 1.0) yet no sdedit setting beats them
    assert by[("sdedit", 0.2)]["frontier"] and by[("sdedit", 0.6)]["frontier"]
    assert not by[("sdedit", 0.2)]["frontier_overall"] and by[("sine", 0.3)]["frontier_overall"]
    assert by[("sine", 0.3)]["best"] and table["best"].sum() == 1
    lines = fr.frontier_lines(table, "oracle_structure", "oracle_edit_success")
    assert set(lines) == {"pretrained", "sdedit", "sine"}
    assert list(lines["sdedit"]["sdedit.strength"]) == [1.0, 0.6, 0.2]  # sorted by structure
    assert fr.setting_label(by[("sdedit", 0.6)], table.attrs["axes"]) == (
        "sdedit sdedit.strength=0.6 native"
    )
    assert fr.plot_tradeoff(table, cells, tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").stat().st_size > 0
    html = frontier_section(cells, axes, tmp_path)
    assert "Pareto (its method)" in html and "Pareto (all)" in html
