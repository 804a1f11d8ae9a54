"""MagicBrush and GEdit-Bench read from the Hugging Face datasets layouts on disk."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.protocol.dataset import read_dataset
from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.loading import parse_protocol
from sine_bench.protocol.method_checks import METHODS
from tests.datasets.hf_fixtures import (
    gedit_table,
    magicbrush_rows,
    magicbrush_table,
    noise,
    write_hub_parquet,
    write_saved_dict,
)

runner = CliRunner()


def _read(folder, tmp_path, **dataset):
    spec = {"path": str(folder), **dataset}
    return read_dataset(
        parse_protocol({"name": "x", "dataset": spec, "store": str(tmp_path / "store")})
    )


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _magicbrush_hub(folder):
    write_hub_parquet(folder, magicbrush_table(), "dev")
    write_hub_parquet(folder, magicbrush_table(), "train", shards=2)


def test_magicbrush_rows_are_items_with_masks_targets_and_turn_ids(tmp_path):
    _magicbrush_hub(tmp_path / "mb")
    dataset = _read(tmp_path / "mb", tmp_path, split="dev")
    items = {i.spec.id: i for i in dataset.items}
    assert list(items) == ["139-1", "139-2", "30-1"]
    first, second = items["139-1"], items["139-2"]
    assert first.spec.prompts == ["Put a cat on the seat"] and first.spec.source == ""
    assert all(i.spec.prompt_kind == "instruction" for i in items.values())
    np.testing.assert_array_equal(_pixels(first.image_path), noise(0))
    np.testing.assert_array_equal(_pixels(first.target_for("Put a cat on the seat")), noise(1))
    # turn 2 starts from turn 1's ground truth: the same bytes, one file
    assert second.image_path == first.target_for("Put a cat on the seat")
    mask = np.asarray(Image.open(first.mask_for("Put a cat on the seat")))
    assert mask[20, 20] == 255 and mask[0, 0] == 0  # white = the region to edit
    assert dataset.source == str(tmp_path / "mb") and len(dataset.content_hash) == 64


def test_the_saved_arrow_layout_reads_as_the_parquet_one(tmp_path):
    _magicbrush_hub(tmp_path / "hub")
    write_saved_dict(tmp_path / "saved", {"dev": magicbrush_table(), "train": magicbrush_table()})
    hub = _read(tmp_path / "hub", tmp_path, split="dev").items
    saved = _read(tmp_path / "saved", tmp_path, split="dev").items
    assert [i.spec for i in hub] == [i.spec for i in saved]
    train = _read(tmp_path / "hub", tmp_path, split="train", format="magicbrush")
    assert len(train.items) == 3  # two shards, one split


def test_magicbrush_global_descriptions_give_captions(tmp_path):
    _magicbrush_hub(tmp_path / "mb")
    captions = {
        "139": {
            "139-input.png": "a train seat",
            "139-output1.png": "a cat on a train seat",
            "139-output2.png": "a black cat on a train seat",
        },
        "30": {"30-input.png": "a man", "30-output1.png": "a man in a hat"},
    }
    (tmp_path / "mb" / "global_descriptions.json").write_text(json.dumps(captions))
    items = {i.spec.id: i.spec for i in _read(tmp_path / "mb", tmp_path, split="dev").items}
    assert items["139-2"].source == "a cat on a train seat"
    assert items["139-2"].prompts == ["a black cat on a train seat"]
    assert (
        items["139-2"].prompt_kind == "caption"
        and "a black cat on a train seat" in items["139-2"].targets
    )
    del captions["30"]["30-output1.png"]
    (tmp_path / "mb" / "global_descriptions.json").write_text(json.dumps(captions))
    with pytest.raises(ProtocolError, match=r"global_descriptions\.json has no caption for '30'"):
        _read(tmp_path / "mb", tmp_path, split="dev")


def test_gedit_rows_are_instruction_items_typed_by_task(tmp_path):
    write_hub_parquet(tmp_path / "g", gedit_table(), "train")
    dataset = _read(tmp_path / "g", tmp_path)
    items = {i.spec.id: i for i in dataset.items}
    assert list(items) == ["a1b2-en", "c3d4-en", "c3d4-cn"]
    assert items["c3d4-cn"].spec.prompts == ["把车变成红色"]
    assert {i.spec.edit_type for i in items.values()} == {"background_change", "color_alter"}
    assert all(i.spec.prompt_kind == "instruction" and i.mask_path is None for i in items.values())
    np.testing.assert_array_equal(_pixels(items["a1b2-en"].image_path), noise(7, 64))  # raw
    np.testing.assert_array_equal(_pixels(items["c3d4-en"].image_path), noise(6))  # no raw
    only = _read(tmp_path / "g", tmp_path, types=["color_alter"]).items
    assert [i.spec.id for i in only] == ["c3d4-en", "c3d4-cn"]


def _damage_column(folder):
    table = magicbrush_table().drop_columns(["target_img"])
    write_hub_parquet(folder, table, "dev")


def _damage_image(folder):
    rows = magicbrush_rows()
    rows["source_img"][1] = None
    write_hub_parquet(folder, magicbrush_table(rows), "dev")


def _damage_bytes(folder):
    rows = magicbrush_rows()
    rows["mask_img"][2] = {"bytes": b"not an image", "path": None}
    write_hub_parquet(folder, magicbrush_table(rows), "dev")


def _damage_file(folder):
    write_hub_parquet(folder, magicbrush_table(), "dev")
    path = folder / "data" / "dev-00000-of-00001.parquet"
    path.write_bytes(path.read_bytes()[:200])


def _damage_path(folder):
    rows = magicbrush_rows()
    rows["target_img"][0] = {"bytes": None, "path": "gone.png"}
    write_hub_parquet(folder, magicbrush_table(rows), "dev")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_damage_column, r"dev-00000-of-00001\.parquet: missing column target_img"),
        (_damage_image, r"row 1 \(139, turn 2\): source_img holds no image"),
        (_damage_bytes, r"row 2 \(30, turn 1\): mask_img is not a readable image"),
        (_damage_file, r"dev-00000-of-00001\.parquet: not a readable parquet file"),
        (_damage_path, r"row 0 \(139, turn 1\): target_img: image file not found: .*gone\.png"),
    ],
)
def test_bad_input_is_one_error_line_exit_2(tmp_path, damage, message):
    damage(tmp_path / "mb")
    args = ["datasets", "check", str(tmp_path / "mb"), "--format", "magicbrush"]
    result = runner.invoke(app, args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert re.search(message, lines[0]), lines[0]


def test_splits_must_be_chosen_and_exist(tmp_path):
    _magicbrush_hub(tmp_path / "mb")
    with pytest.raises(ProtocolError, match=r"holds the splits dev, train; choose one"):
        _read(tmp_path / "mb", tmp_path)
    with pytest.raises(ProtocolError, match=r"dataset\.split: no split 'test' .*dev, train"):
        _read(tmp_path / "mb", tmp_path, split="test")


def test_check_reports_targets_and_instructions(tmp_path):
    _magicbrush_hub(tmp_path / "mb")
    result = runner.invoke(app, ["datasets", "check", str(tmp_path / "mb"), "--split", "dev"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.strip().splitlines())
    assert lines["items"] == "3" and lines["masks"] == "3 of 3 edits"
    assert lines["targets"] == "3 of 3 edits (ground-truth images)"
    assert lines["instructed"].startswith("3 items give instructions, not captions")
    read = _read(tmp_path / "mb", tmp_path, split="dev")
    assert lines["content"] == f"sha256:{read.content_hash}"


def test_plan_refuses_caption_driven_methods_on_instructions(tmp_path, monkeypatch):
    from sine_bench.runner.plan import PlanError, build_plan

    write_hub_parquet(tmp_path / "g", gedit_table(), "train")
    monkeypatch.chdir(tmp_path)
    protocol = parse_protocol(
        {
            "name": "g",
            "model": {"name": "toy"},
            "dataset": {"path": "g", "format": "gedit"},
            "grid": {"v": [0.5], "K": [400], "seeds": [0]},
            "metrics": ["psnr"],
        }
    )
    with pytest.raises(PlanError, match=r"item 'a1b2-en': method 'sine' edits towards a caption"):
        build_plan(protocol, tmp_path)
    with METHODS.registered("instructed", _Instructed):  # an editor that takes them plans
        data = protocol.model_dump(exclude_defaults=True)
        data |= {"methods": {"instructed": {}}, "grid": {"v": None, "K": None, "seeds": [0]}}
        plan = build_plan(parse_protocol(data), tmp_path)
    assert [c.cell.prompt for c in plan.cells] == [
        "Change the background to a beach",
        "Make the car red",
        "把车变成红色",
    ]


class _Instructed:
    """A black-box editor that edits from instructions (returns the source)."""

    knobs: dict = {}
    takes_instructions = True

    def edit(self, source, source_prompt, target_prompt, seed, **knobs):
        return source
