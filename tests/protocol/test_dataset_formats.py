"""Dataset formats: a folder is read by the first registered format that recognises it,
so a new format is one registration (a synthetic format; files only need to exist)."""

from pathlib import Path

import pytest

from sine_bench.protocol.dataset import DatasetRead, DatasetRequest, resolve_dataset
from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.formats import DATASET_FORMATS
from sine_bench.protocol.loading import parse_protocol
from sine_bench.protocol.sections import DatasetItem


class CsvFormat:
    """``image,class_word,prompt`` rows in items.csv: a format a plug-in could add."""

    marker = "items.csv"

    def recognises(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read(self, request: DatasetRequest) -> DatasetRead:
        folder = request.folder
        rows = [line.split(",") for line in (folder / self.marker).read_text().splitlines()]
        items = [
            DatasetItem(id=Path(image).stem, image=image, class_word=word, prompts=[prompt])
            for image, word, prompt in rows
        ]
        return DatasetRead(items, str(folder / self.marker), [folder / self.marker])


def _protocol(folder: Path):
    return parse_protocol({"name": "x", "dataset": str(folder)})


def test_a_registered_format_reads_a_folder_without_a_manifest(tmp_path):
    (tmp_path / "cat.png").write_bytes(b"not decoded here")
    (tmp_path / "items.csv").write_text("cat.png,cat,a photo of a dog\n")
    shipped = DATASET_FORMATS.names()
    with pytest.raises(
        # installed plug-in formats (examples/sine-bench-examples in CI) come after
        ProtocolError,
        match=r"no manifest\.yaml or .*dataset\.csv or .*input_image( or [^ ]+)* in ",
    ):
        resolve_dataset(_protocol(tmp_path))
    with DATASET_FORMATS.registered("items-csv", CsvFormat()):
        (item,) = resolve_dataset(_protocol(tmp_path))
        with pytest.raises(
            ProtocolError, match=r"dataset\.csv or .*input_image or (.* or )?items\.csv in "
        ):
            resolve_dataset(_protocol(tmp_path / "elsewhere"))
    assert item.spec.id == "cat" and item.spec.prompts == ["a photo of a dog"]
    assert item.image_path == (tmp_path / "cat.png").resolve()
    assert DATASET_FORMATS.names() == shipped  # then installed plug-ins, if any
    assert shipped[:6] == [*("manifest", "pie-bench", "tedbench", "csv", "magicbrush", "gedit")]


def test_the_manifest_format_is_tried_first(tmp_path):
    (tmp_path / "cat.png").write_bytes(b"not decoded here")
    (tmp_path / "items.csv").write_text("cat.png,cat,a photo of a dog\n")
    (tmp_path / "manifest.yaml").write_text(
        "items:\n  - {id: m, image: cat.png, class_word: cat, prompts: [a red cat]}\n"
    )
    with DATASET_FORMATS.registered("items-csv", CsvFormat()):
        (item,) = resolve_dataset(_protocol(tmp_path))
    assert item.spec.id == "m"


def test_a_named_format_must_be_known_and_find_its_marker(tmp_path):
    with pytest.raises(ProtocolError, match=r"dataset\.format: unknown dataset format 'pie' "):
        parse_protocol({"name": "x", "dataset": {"path": str(tmp_path), "format": "pie"}})
    (tmp_path / "manifest.yaml").write_text("items: []\n")
    spec = {"path": str(tmp_path), "format": "pie-bench"}
    with pytest.raises(ProtocolError, match=r"format 'pie-bench' needs mapping_file\.json in "):
        resolve_dataset(parse_protocol({"name": "x", "dataset": spec}))
