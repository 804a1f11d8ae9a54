"""Dataset formats: a folder is read by the first registered format that recognises it,
so a new format is one registration (a synthetic format; files only need to exist)."""

from pathlib import Path

import pytest

from sine_bench.protocol.dataset import DATASET_FORMATS, resolve_dataset
from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.loading import parse_protocol
from sine_bench.protocol.sections import DatasetItem


class CsvFormat:
    """``image,class_word,prompt`` rows in items.csv: a stand-in for a later format."""

    marker = "items.csv"

    def recognises(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read(self, folder: Path) -> tuple[list[DatasetItem], str]:
        rows = [line.split(",") for line in (folder / self.marker).read_text().splitlines()]
        items = [
            DatasetItem(id=Path(image).stem, image=image, class_word=word, prompts=[prompt])
            for image, word, prompt in rows
        ]
        return items, str(folder / self.marker)


def _protocol(folder: Path):
    return parse_protocol({"name": "x", "dataset": str(folder)})


def test_a_registered_format_reads_a_folder_without_a_manifest(tmp_path):
    (tmp_path / "cat.png").write_bytes(b"not decoded here")
    (tmp_path / "items.csv").write_text("cat.png,cat,a photo of a dog\n")
    with pytest.raises(ProtocolError, match=r"no manifest\.yaml in "):
        resolve_dataset(_protocol(tmp_path))
    with DATASET_FORMATS.registered("csv", CsvFormat()):
        (item,) = resolve_dataset(_protocol(tmp_path))
        with pytest.raises(ProtocolError, match=r"no manifest\.yaml or items\.csv in "):
            resolve_dataset(_protocol(tmp_path / "elsewhere"))
    assert item.spec.id == "cat" and item.spec.prompts == ["a photo of a dog"]
    assert item.image_path == (tmp_path / "cat.png").resolve()
    assert DATASET_FORMATS.names() == ["manifest"]


def test_the_manifest_format_is_tried_first(tmp_path):
    (tmp_path / "cat.png").write_bytes(b"not decoded here")
    (tmp_path / "items.csv").write_text("cat.png,cat,a photo of a dog\n")
    (tmp_path / "manifest.yaml").write_text(
        "items:\n  - {id: m, image: cat.png, class_word: cat, prompts: [a red cat]}\n"
    )
    with DATASET_FORMATS.registered("csv", CsvFormat()):
        (item,) = resolve_dataset(_protocol(tmp_path))
    assert item.spec.id == "m"
