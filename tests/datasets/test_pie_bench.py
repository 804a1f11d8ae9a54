"""PIE-Bench's distributed layout: items, prompts without [ ], edit types, masks equal
to an independent decoder's, sources cropped as the benchmark loads them, and every
malformed input one line naming the file and the entry."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from sine_bench.protocol.dataset import read_dataset
from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.loading import parse_protocol
from tests.datasets.fixtures import reference_decode, write_pie_bench


def _protocol(folder, tmp_path, **dataset):
    spec = {"path": str(folder), **dataset}
    return parse_protocol({"name": "x", "dataset": spec, "store": str(tmp_path / "store")})


def _read(folder, tmp_path, **dataset):
    return read_dataset(_protocol(folder, tmp_path, **dataset))


def test_entries_load_with_prompts_types_and_decoded_masks(tmp_path):
    mapping = write_pie_bench(tmp_path / "pie")
    dataset = _read(tmp_path / "pie", tmp_path, format="pie-bench")
    items = {i.spec.id: i for i in dataset.items}
    assert list(items) == list(mapping)
    cat = items["000000000000"].spec
    assert cat.source == "a cat sitting on a wooden table"
    assert cat.prompts == ["a dog sitting on a wooden table"]
    assert (cat.edit_type, cat.class_word) == ("1", "cat")
    assert items["222000000000"].spec.class_word == "object"  # no blended word
    assert items["222000000000"].spec.prompts == ["a house in the snow at night"]
    for key, entry in mapping.items():
        decoded = np.asarray(Image.open(items[key].mask_path)) // 255
        np.testing.assert_array_equal(decoded, reference_decode(entry["mask"]))
    assert dataset.preparation.startswith("pie-bench:")


def test_a_512_source_is_used_as_is_and_others_are_centre_cropped(tmp_path):
    mapping = write_pie_bench(tmp_path / "pie")
    items = {i.spec.id: i for i in _read(tmp_path / "pie", tmp_path).items}  # auto-detected
    original = tmp_path / "pie" / "annotation_images" / mapping["000000000000"]["image_path"]
    assert items["000000000000"].image_path == original.resolve()
    wide = tmp_path / "pie" / "annotation_images" / mapping["111000000000"]["image_path"]
    expected = Image.open(wide).convert("RGB").crop((80, 0, 560, 480)).resize((512, 512))
    got = Image.open(items["111000000000"].image_path)
    assert got.size == (512, 512)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_types_select_items_by_edit_type(tmp_path):
    write_pie_bench(tmp_path / "pie")
    only = _read(tmp_path / "pie", tmp_path, format="pie-bench", types=[9])
    assert [i.spec.id for i in only.items] == ["222000000000"]
    both = _read(tmp_path / "pie", tmp_path, types=["1", 9])
    assert len(both.items) == 3 and both.content_hash != only.content_hash
    with pytest.raises(ProtocolError, match=r"no item has edit type '4'"):
        _read(tmp_path / "pie", tmp_path, types=[4])


def test_content_hash_follows_the_bytes_not_the_place(tmp_path):
    write_pie_bench(tmp_path / "a")
    first = _read(tmp_path / "a", tmp_path).content_hash
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert _read(tmp_path / "b", tmp_path).content_hash == first
    image = next((tmp_path / "b" / "annotation_images").rglob("*.jpg"))
    image.write_bytes(image.read_bytes() + b"\0")
    assert _read(tmp_path / "b", tmp_path).content_hash != first


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("{not json", r"mapping_file\.json: not valid JSON"),
        ("[]", r"mapping_file\.json: expected a non-empty mapping"),
        (
            lambda m: m["111000000000"].pop("mask"),
            r"mapping_file\.json: entry '111000000000': missing mask",
        ),
        (
            lambda m: m["111000000000"].update(mask=[5, 10, 7]),
            r"entry '111000000000': mask has 3 values; it must be \(start, length\) pairs",
        ),
        (
            lambda m: m["000000000000"].update(mask=[512 * 512, 4]),
            r"entry '000000000000': mask run \(262144, 4\) lies outside the 512x512 image",
        ),
        (
            lambda m: m["000000000000"].update(image_path="0_random_140/gone.jpg"),
            r"entry '000000000000': image file not found: .*gone\.jpg",
        ),
        (  # a file that is no image: its entry named, not only the file
            lambda m: m["000000000000"].update(image_path="../mapping_file.json"),
            r"json: entry '000000000000': image file is unreadable: .*mapping_file\.json",
        ),
        (
            lambda m: m["222000000000"].update(editing_prompt=" "),
            r"entry '222000000000': prompts: prompt 0 is empty",
        ),
    ],
)
def test_malformed_input_is_one_line_naming_file_and_entry(tmp_path, damage, message):
    mapping = write_pie_bench(tmp_path / "pie")
    path = tmp_path / "pie" / "mapping_file.json"
    if isinstance(damage, str):
        path.write_text(damage)
    else:
        damage(mapping)
        path.write_text(json.dumps(mapping))
    with pytest.raises(ProtocolError, match=message) as err:
        _read(tmp_path / "pie", tmp_path)
    assert "\n" not in str(err.value)


def test_a_plan_lists_items_by_prompts_with_the_decoded_masks_and_records_the_dataset(
    tmp_path, monkeypatch
):
    from sine_bench.protocol.cells import axis_labels
    from sine_bench.report.tables import metric_columns
    from sine_bench.runner.plan import build_plan
    from sine_bench.runner.run_dir import cells_frame

    mapping = write_pie_bench(tmp_path / "pie")
    monkeypatch.chdir(tmp_path)
    protocol = parse_protocol(
        {
            "name": "pie",
            "model": {"name": "toy"},
            "dataset": {"path": "pie", "format": "pie-bench", "types": [1]},
            "grid": {"v": [0.5], "K": [400], "seeds": [0]},
            "metrics": ["psnr_masked"],
        }
    )
    plan = build_plan(protocol, tmp_path)
    assert [(c.cell.item, c.cell.prompt) for c in plan.cells] == [
        ("000000000000", "a dog sitting on a wooden table"),
        ("111000000000", "a round pizza with strawberries"),
    ]
    for cell in plan.cells:
        mask = plan.items[cell.cell.item].mask_for(cell.cell.prompt)
        decoded = np.asarray(Image.open(mask)) // 255
        np.testing.assert_array_equal(decoded, reference_decode(mapping[cell.cell.item]["mask"]))
    assert plan.dataset["items"] == 2 and len(plan.dataset["content_hash"]) == 64
    cells = cells_frame(plan, [{"psnr_masked": 1.0} for _ in plan.cells])
    assert list(cells["edit_type"]) == ["1", "1"]
    assert metric_columns(cells, axis_labels(protocol)) == ["psnr_masked"]
    assert plan.dataset["preparation"].startswith("pie-bench: masks decoded")
