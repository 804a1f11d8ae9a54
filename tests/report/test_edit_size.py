"""Claim (e)'s analysis on small synthetic cells tables whose answers are known."""

import json

import pandas as pd
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.report import edit_size as es

SOURCE = "a small red circle and a large blue square on a green background"
PROMPTS = {  # prompt -> (attributes, class change) for class word 'circle'
    "a small red circle and a large blue square on a yellow background": (1, False),
    "a small red cross and a large blue square on a green background": (1, True),
    "a small red circle and a large blue triangle on a green background": (1, False),
    "a small white circle and a large blue square on a striped yellow background": (3, False),
    "a small red cross and a large blue square on a striped yellow background": (3, True),
    "a large white cross and a large blue square on a striped yellow background": (5, True),
}


@pytest.mark.parametrize(("prompt", "expected"), PROMPTS.items())
def test_edit_size_counts_attributes_and_flags_class_changes(prompt, expected):
    size = es.edit_size(SOURCE, prompt, "circle")
    assert (size.attributes, size.class_change) == expected
    assert size.label == (f"{expected[0]} (class)" if expected[1] else str(expected[0]))


def test_reshaping_an_object_of_another_class_is_not_a_class_change():
    # the square is reshaped; the fine-tune's class word names the circle
    size = es.edit_size(SOURCE, list(PROMPTS)[2], "circle")
    assert size.attributes == 1 and not size.class_change
    assert es.edit_size(SOURCE, list(PROMPTS)[2], "square").class_change


def test_text_that_is_not_a_toy_caption_is_refused():
    with pytest.raises(es.EditSizeUnavailable, match="target caption 'a dog in a hat'"):
        es.edit_size(SOURCE, "a dog in a hat", "circle")
    with pytest.raises(es.EditSizeUnavailable, match="source description ''"):
        es.edit_size("", list(PROMPTS)[0], "circle")


PLAIN = "a small red circle on a green background"
ONE = "a small red circle on a blue background"  # 1 attribute
TWO = "a small white circle on a blue background"  # 2
ONE_CLASS = "a small red square on a green background"  # 1, class change
TEXTS = {"": {f"s{i}": es.ItemText(PLAIN, "circle") for i in range(4)}}


def _cells(faithful, prompts=(ONE, TWO, ONE_CLASS)) -> pd.DataFrame:
    """4 images x 3 prompts x v in (0, 0.5), one seed; ``faithful(item, prompt, v)``."""
    rows = []
    for item in range(4):
        for p, prompt in enumerate(prompts):
            for v in (0.0, 0.5):
                f = faithful(item, p, v)
                rows.append(
                    {
                        "item": f"s{item}",
                        "prompt_index": p,
                        "prompt": prompt,
                        "seed": 0,
                        "v": v,
                        "K": 400,
                        "resolution": "native",
                        "finetune.method": "sine-full",
                        "oracle_faithful": f,
                        "oracle_edit_success": 1.0 - 0.5 * p,
                        "oracle_structure": 1.0 - v,
                        "oracle_offset": v / 2,
                    }
                )
    return pd.DataFrame(rows)


def test_table_values_per_v_and_edit_size():
    # prompt 0 always faithful; prompt 1 faithful on images 0, 1 only; class change never
    cells = _cells(lambda item, p, v: float(p == 0 or (p == 1 and item < 2)))
    analysis = es.analyse_edit_size(cells, TEXTS)
    assert analysis.note == "" and analysis.settings == ["v"]
    table = analysis.table.set_index(["v", "edit_size"])
    assert list(table.index.get_level_values("edit_size").unique()) == ["1", "1 (class)", "2"]
    assert table.loc[(0.0, "1"), "oracle_faithful"] == 1.0
    assert table.loc[(0.5, "2"), "oracle_faithful"] == 0.5
    assert table.loc[(0.0, "1 (class)"), "oracle_faithful"] == 0.0
    assert table.loc[(0.5, "2"), "oracle_edit_success"] == 0.5
    assert table.loc[(0.5, "1 (class)"), "oracle_structure"] == 0.5
    assert table.loc[(0.5, "1"), "oracle_offset"] == 0.25
    assert (table["n"] == 4).all() and (table["images"] == 4).all()
    lo, hi = table.loc[(0.0, "2"), ["oracle_faithful_lo", "oracle_faithful_hi"]]
    assert 0.0 <= lo < 0.5 < hi <= 1.0  # the two images that differ make it uncertain
    assert table.loc[(0.0, "1"), ["oracle_faithful_lo", "oracle_faithful_hi"]].tolist() == [1, 1]

    contrasts = analysis.contrasts.set_index(["v", "contrast"])
    size = contrasts.loc[(0.0, "1 vs 2 attributes, no class change")]
    assert size["difference"] == 0.5 and size["images"] == 4 and size["lo"] <= 0.5 <= size["hi"]
    klass = contrasts.loc[(0.0, "no class change vs class change, same size (1)")]
    assert klass["difference"] == 1.0 and klass["p"] < 0.05


def test_expected_caption_overrides_the_prompt():
    cells = _cells(lambda item, p, v: 1.0)
    cells.loc[cells["prompt_index"] == 1, "prompt"] = "make it white on blue"
    texts = {
        "": {k: es.ItemText(PLAIN, "circle", {"make it white on blue": TWO}) for k in TEXTS[""]}
    }
    sized = es.with_edit_size(cells, texts)
    assert sized.loc[sized["prompt_index"] == 1, "edit_attributes"].eq(2).all()
    assert es.analyse_edit_size(cells, TEXTS).note.startswith("target caption 'make it white")


def test_says_why_it_cannot_grade():
    cells = _cells(lambda item, p, v: 1.0)
    assert "oracle_faithful" in es.analyse_edit_size(cells.drop(columns="oracle_faithful")).note
    assert "run_dir" in es.analyse_edit_size(cells).note
    one_size = cells[cells["prompt_index"] == 0]
    assert es.analyse_edit_size(one_size, TEXTS).note == "every edit has the same size (1)"
    missing = {"": {"s0": TEXTS[""]["s0"]}}
    assert "item 's1' is not in the dataset" in es.analyse_edit_size(cells, missing).note
    assert es.edit_size_markdown(es.analyse_edit_size(one_size, TEXTS))[-2].startswith(
        "- not analysed: every edit has the same size"
    )


def _run_dir(tmp_path, cells: pd.DataFrame):
    """A run directory whose protocol.yaml lists its dataset inline, as a run writes it."""
    run = tmp_path / "runs" / "edit-size"
    (run / "images").mkdir(parents=True)
    image = tmp_path / "scene.png"
    Image.new("RGB", (8, 8), "green").save(image)
    items = [
        {
            "id": f"s{i}",
            "image": str(image),
            "class_word": "circle",
            "source": PLAIN,
            "prompts": [ONE, TWO, ONE_CLASS],
        }
        for i in range(4)
    ]
    protocol = {"name": "edit-size", "dataset": {"items": items}, "output": "runs/{name}"}
    (run / "protocol.yaml").write_text(yaml.safe_dump(protocol))
    cells.to_csv(run / "cells.csv", index=False)
    from sine_bench.runner.ownership import write_marker

    write_marker(run)  # a finished run directory
    return run


def test_reproduce_report_has_the_edit_size_section(tmp_path, monkeypatch):
    cells = _cells(lambda item, p, v: float(p == 0))
    run = _run_dir(tmp_path, cells)
    monkeypatch.chdir(tmp_path / "runs")  # not the run's root: found from its output path
    assert es.item_texts(run)["s2"] == es.ItemText(PLAIN, "circle", {})
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["reproduce-report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "reproduction.md").read_text()
    assert "## Edit size (claim e)" in page
    assert (
        "| edit size | v=0 | v=0.5 |" in page
        and "| 2 | 0.00 [0.00, 0.00] | 0.00 [0.00, 0.00] |" in page
    )
    assert "| 1 | 1.00 [1.00, 1.00] | 1.00 [1.00, 1.00] |" in page
    data = json.loads((out / "reproduction.json").read_text())["edit_size"]
    assert {r["edit_size"] for r in data["table"]} == {"1", "2", "1 (class)"}
    assert (out / "edit_size.png").is_file()


def test_a_run_whose_dataset_is_gone_says_so(tmp_path):
    run = tmp_path / "old-run"
    run.mkdir()
    protocol = {"name": "old", "dataset": "no-such-dataset", "output": "elsewhere/{name}"}
    (run / "protocol.yaml").write_text(yaml.safe_dump(protocol))
    with pytest.raises(es.EditSizeUnavailable, match="no-such-dataset.*run from the directory"):
        es.item_texts(run)
    with pytest.raises(es.EditSizeUnavailable, match="no protocol.yaml"):
        es.item_texts(tmp_path)


def test_best_v_per_edit_size_prefers_the_smaller_v_on_ties():
    # 1 attribute: faithful at v = 0 only; 2 attributes: at v = 0.5 only; class: never
    cells = _cells(lambda item, p, v: float((p == 0 and v == 0.0) or (p == 1 and v == 0.5)))
    best = es.best_v(es.analyse_edit_size(cells, TEXTS)).set_index("edit_size")
    assert best.loc["1", "v"] == 0.0 and best.loc["2", "v"] == 0.5
    assert best.loc["1 (class)", "v"] == 0.0  # all zero: the smaller v
    assert best.loc["2", "oracle_faithful"] == 1.0 and best.loc["2", "oracle_structure"] == 0.5
    lines = es.edit_size_markdown(es.analyse_edit_size(cells, TEXTS))
    assert "| 2 | 0.5 | 1.00 [1.00, 1.00] | 0.50 [0.50, 0.50] | 0.50 [0.50, 0.50] |" in lines


def test_class_contrast_weighs_each_edit_size_equally():
    one_more = "a small red circle on a striped green background"  # 1 attribute: texture
    two_class = "a small white square on a green background"  # 2, class change
    prompts = (ONE, one_more, TWO, ONE_CLASS, two_class)
    # 1-attribute edits always faithful, 2-attribute never, with or without class change:
    # no class effect, though pooling cells would weigh the no-class 1s two to one
    cells = _cells(lambda item, p, v: float(p in (0, 1, 3)), prompts)
    contrasts = es.analyse_edit_size(cells, TEXTS).contrasts.set_index(["v", "contrast"])
    klass = contrasts.loc[(0.0, "no class change vs class change, same size (1, 2)")]
    assert klass["difference"] == 0.0
    assert contrasts.loc[(0.5, "1 vs 2 attributes, no class change"), "difference"] == 1.0


def test_a_methods_run_has_no_empty_setting_column():
    """reproduce-report on a methods run added a `v=nan, K=nan` column of dashes: the
    other methods' cells (no v) are not SINE settings."""
    sine = _cells(lambda item, p, v: float(p == 0))
    other = sine[sine["v"] == 0.0].assign(v=float("nan"), K=float("nan"), method="sdedit")
    cells = pd.concat([sine.assign(method="sine"), other], ignore_index=True)
    analysis = es.analyse_edit_size(cells, TEXTS)
    assert analysis.note == "" and analysis.table["v"].notna().all()
    header = es.pivot_markdown(analysis, "oracle_faithful").splitlines()[0]
    assert header == "| edit size | v=0 | v=0.5 |"
