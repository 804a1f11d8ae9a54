"""A methods run scores the fine-tuned-only and pretrained-only samples it computed for
edit_score's anchors as reference rows (references.csv, the report's frontier), under
the score keys a grid cell whose edit is that image gets, leaving cells.csv alone."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from PIL import Image

from sine_bench.metrics import edit_score as es
from sine_bench.metrics.pixel import psnr_value
from sine_bench.metrics.registry import check_metric_name
from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.plan import build_plan
from sine_bench.runner.reference_cells import reference_role
from sine_bench.runner.scoring import RESAMPLE, score_context, score_keys
from tests.fakes import register_fakes
from tests.helpers import anchored_inputs, scored_image, write_protocol

SCORE = "edit_score[test-fake+test-fake]"
COLUMN = "edit_score[test-fake+lpips-test-fake]"  # the column names the LPIPS that ran
METHODS = {"sine": {"grid": {"v": [0.5]}}, "sdedit": {"grid": {"strength": [0.5]}}}
GRID = {"v": None, "K": [400], "seeds": [0]}


def _protocol(tmp_path, methods=METHODS):
    register_fakes()
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_protocol(
        tmp_path, metrics=["psnr", SCORE, "clip_t[test-fake]"], grid=GRID, methods=methods
    )


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """A tiny methods run (sine alone, one seed; edit_score): (protocol, run directory)."""
    from sine_bench.runner.run import run_protocol

    path = _protocol(tmp_path_factory.mktemp("reference_run"), {"sine": METHODS["sine"]})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return path, run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    finally:
        torch.set_num_threads(before)


def test_reference_rows_equal_a_direct_scoring_of_the_stored_images(reference_run):
    """psnr and edit_score of each reference row, recomputed from the stored reference
    image, its source and its anchors alone, are the values references.csv holds."""
    path, out = reference_run
    refs = pd.read_csv(out / "references.csv")
    # no pretrained method, no v = 0 with K = 0: both roles, per (item, prompt)
    assert sorted(refs["role"].value_counts().items()) == [
        ("fine-tuned only", 3),
        ("pretrained only", 3),
    ]
    plan = build_plan(load_protocol(path))
    assert len(plan.reference_cells) == len(refs)
    store = path.parent / "store" / "edits"
    resample = RESAMPLE[plan.protocol.scoring.resample]
    name = check_metric_name(SCORE)
    for entry, (_, row) in zip(plan.reference_cells, refs.iterrows(), strict=True):
        assert row["edit_key"] == entry.edit and row["role"] == reference_role(entry)
        item = plan.items[entry.cell.item]
        source = scored_image(item.image_path, image_size(item.image_path), resample)
        size = tuple(source.shape[-2:])
        image = out / row["image"]  # the run directory's copy is the stored image
        stored = store / entry.edit[:2] / entry.edit / "edit.png"
        assert image.read_bytes() == stored.read_bytes()
        edit = scored_image(image, size, resample)
        assert psnr_value(source, edit) == pytest.approx(row["psnr"], abs=1e-9)

        def load(key, size=size):
            return scored_image(store / key[:2] / key / "edit.png", size, resample)

        x = anchored_inputs(source, edit, entry, item, load)
        assert es.edit_score(name, x) == pytest.approx(row[COLUMN], abs=1e-6)
    assert refs[COLUMN].notna().all() and refs["psnr"].notna().all()


def image_size(path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.height, img.width


def test_report_shows_the_reference_rows_and_the_tables_do_not(reference_run, tmp_path):
    from sine_bench.report.resolution import run_summary_lines
    from sine_bench.report.tables import write_tables

    path, out = reference_run
    html = (out / "report.html").read_text()
    assert "This grid has no fine-tuned only setting" not in html
    assert "The fine-tuned only rows are references, not grid settings" in html
    assert "<td>fine-tuned only (reference)</td>" in html
    assert "<td>pretrained only (reference)</td>" in html
    row = html[html.index("<table class=row>") :]
    assert row.index("fine-tuned only (reference)") < row.index("pretrained only (reference)")
    assert 'href="images/references/ref-' in row  # the thumbnails are the references
    assert (out / "plots" / "frontier.png").is_file()
    per_size = (out / "summary" / "resolution.md").read_text()  # sources of two sizes
    assert per_size.count("| fine-tuned only (reference) |") == 2
    frontier = pd.read_csv(out / "frontier.csv", dtype={"role": object}).fillna({"role": ""})
    refs = frontier[frontier["reference"]]
    assert set(refs["role"]) == {"fine-tuned only", "pretrained only"}
    assert not (refs["best"] | refs["frontier"] | refs["frontier_overall"]).any()
    k_text = pd.read_csv(out / "frontier.csv", dtype=str)["K"].dropna()
    assert k_text.str.fullmatch(r"\d+").all(), list(k_text)  # K as the grid writes it
    ft = refs[refs["role"] == "fine-tuned only"].iloc[0]
    stored = pd.read_csv(out / "references.csv")
    mean = stored[stored["role"] == "fine-tuned only"][COLUMN].mean()
    assert ft[COLUMN] == pytest.approx(mean) and int(ft["n"]) == 3
    axes = json.loads((out / "manifest.json").read_text())["axes"]
    lines = "\n".join(run_summary_lines(out, axes))
    assert "fine-tuned only  sine v=0 K=0 64x96 [reference, not a grid setting]" in lines
    # the grid's tables are those of its cells alone, byte for byte (compare reads them)
    write_tables(pd.read_parquet(out / "cells.parquet"), axes, tmp_path)
    for name in ("cells.csv", "summary.json", "summary/method.csv", "summary/setting.csv"):
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name
    bare = pd.read_csv(tmp_path / "frontier.csv", dtype={"role": object}).fillna({"role": ""})
    grid_rows = frontier[~frontier["reference"]].drop(columns="reference")
    pd.testing.assert_frame_equal(grid_rows, bare, check_dtype=False)  # K: NaN on pt rows
    record = json.loads((out / "results.json").read_text())["references"]
    assert record["rows"] == 6 and record["file"] == "references.csv"
    entries = json.loads((out / "store-entries.json").read_text())["entries"]["scores"]
    plan = build_plan(load_protocol(path))
    for entry in plan.reference_cells:  # gc keeps what the reference rows read
        assert set(score_keys(plan, entry).values()) <= set(entries)


def test_a_pretrained_reference_has_the_pretrained_methods_score_keys(tmp_path):
    """The pretrained-only sample is the ``pretrained`` method's edit: its reference
    cell's score keys are that method's grid cell's, so adding the method reuses them
    (and with it in the grid, no pretrained reference is planned)."""
    without = build_plan(load_protocol(_protocol(tmp_path / "without")))
    listed = METHODS | {"pretrained": {}}
    with_it = build_plan(load_protocol(_protocol(tmp_path / "with", listed)))
    assert {reference_role(e) for e in with_it.reference_cells} == {"fine-tuned only"}
    grid = {
        (e.cell.item, e.cell.prompt_index, e.edit): score_keys(with_it, e)
        for e in with_it.cells
        if e.cell.method == "pretrained"
    }
    refs = [e for e in without.reference_cells if reference_role(e) == "pretrained only"]
    assert len(refs) == len(grid) == 3
    for entry in refs:
        keys = score_keys(without, entry, score_context(without, entry))
        assert keys == grid[(entry.cell.item, entry.cell.prompt_index, entry.edit)]
    # the grid's own keys never depend on whether reference cells are planned
    assert [e.edit for e in without.cells] == [
        e.edit for e in with_it.cells if e.cell.method != "pretrained"
    ]


def test_a_sine_grid_plans_no_reference_cells(tmp_path):
    register_fakes()
    tmp_path.mkdir(exist_ok=True)
    path = write_protocol(tmp_path, metrics=["psnr", SCORE], grid={"seeds": [0]})
    assert build_plan(load_protocol(path)).reference_cells == []
