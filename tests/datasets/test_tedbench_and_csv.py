"""TEdBench's input_list.json and the plain folder + dataset.csv format."""

from __future__ import annotations

import pytest

from sine_bench.protocol.dataset import read_dataset
from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.loading import parse_protocol
from tests.datasets.fixtures import write_csv_folder, write_tedbench


def _read(folder, tmp_path, **dataset):
    spec = {"path": str(folder), **dataset}
    return read_dataset(
        parse_protocol({"name": "x", "dataset": spec, "store": str(tmp_path / "store")})
    )


def test_tedbench_groups_target_texts_by_image_with_no_source(tmp_path):
    write_tedbench(tmp_path / "ted")
    items = {i.spec.id: i.spec for i in _read(tmp_path / "ted", tmp_path).items}
    assert list(items) == ["teddy_bear", "dog2"]
    assert items["teddy_bear"].prompts == [
        "A photo of a teddy bear sitting",
        "A photo of a teddy bear jumping",
    ]
    assert items["teddy_bear"].class_word == "teddy bear" and items["dog2"].class_word == "dog"
    assert all(spec.source == "" and spec.mask is None for spec in items.values())


def test_tedbench_refuses_a_missing_original_in_one_line(tmp_path):
    write_tedbench(tmp_path / "ted")
    (tmp_path / "ted" / "originals" / "dog2.jpeg").unlink()
    with pytest.raises(ProtocolError, match=r"input_list\.json: entry 2: image file not found"):
        _read(tmp_path / "ted", tmp_path, format="tedbench")


def test_csv_rows_of_one_image_make_one_item_with_per_edit_masks(tmp_path):
    write_csv_folder(tmp_path / "c")
    items = {i.spec.id: i for i in _read(tmp_path / "c", tmp_path, format="csv").items}
    cat, car = items["cat"], items["red_car"]
    assert cat.spec.prompts == ["a photo of a dog", "a photo of a tiger"]
    assert cat.spec.source == "a photo of a cat" and cat.spec.class_word == "cat"
    assert cat.mask_for("a photo of a dog") == (tmp_path / "c/imgs/cat_mask.png").resolve()
    assert cat.mask_for("a photo of a tiger") is None
    assert car.spec.prompts == ["a blue car, parked"] and car.spec.class_word == "red car"


def test_csv_with_a_byte_order_mark_and_crlf_is_read(tmp_path):
    """As spreadsheets save "CSV UTF-8": the mark is no part of the first column's name."""
    write_csv_folder(tmp_path / "c")
    text = "image,source_prompt,target_prompt\r\nimgs/cat.png,a cat,a dog\r\n"
    (tmp_path / "c" / "dataset.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (item,) = _read(tmp_path / "c", tmp_path, format="csv").items
    assert (item.spec.id, item.spec.source, item.spec.prompts) == ("cat", "a cat", ["a dog"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image,prompt\nx.png,a\n", r"dataset\.csv: header must name image, source_prompt"),
        (
            "image,source_prompt,target_prompt\nimgs/cat.png,a cat,a dog\nimgs/cat.png,b,c\n",
            r"dataset\.csv: line 3: source differs from an earlier row of imgs/cat\.png",
        ),
        (
            "image,source_prompt,target_prompt\nimgs/gone.png,a cat,a dog\n",
            r"dataset\.csv: item 'gone': image file not found",
        ),
        ("image,source_prompt,target_prompt\n", r"dataset\.csv: no rows"),
    ],
)
def test_csv_mistakes_are_one_line_naming_the_file(tmp_path, text, message):
    write_csv_folder(tmp_path / "c")
    (tmp_path / "c" / "dataset.csv").write_text(text)
    with pytest.raises(ProtocolError, match=message):
        _read(tmp_path / "c", tmp_path)
