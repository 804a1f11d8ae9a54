"""A plain folder with ``dataset.csv``: a header row naming ``image``,
``source_prompt``, ``target_prompt`` and optionally ``mask``, ``class_word``,
``edit_type``; paths relative to the folder.

Rows of one image make one item (its prompts in row order); a row's mask is the mask
of that edit (white = the region it may change). The class word defaults to the
subject the image's file name states. Every row of an image must give the same
source prompt, class word and edit type.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..protocol.dataset import DatasetRead, DatasetRequest
from ..protocol.fields import ProtocolError
from .common import class_word_from_name, item_id, make_item

REQUIRED = ("image", "source_prompt", "target_prompt")
OPTIONAL = ("mask", "class_word", "edit_type")


class CsvFolderFormat:
    marker = "dataset.csv"

    def recognises(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read(self, request: DatasetRequest) -> DatasetRead:
        path = request.folder / self.marker
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = list(reader.fieldnames or [])
                rows = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise ProtocolError(f"{path}: cannot be read as CSV ({err})") from None
        missing = [c for c in REQUIRED if c not in columns]
        unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
        if missing or unknown:
            raise ProtocolError(
                f"{path}: header must name {', '.join(REQUIRED)} (and optionally "
                f"{', '.join(OPTIONAL)}); missing {missing}, unknown {unknown}"
            )
        grouped: dict[str, dict] = {}
        for line, row in enumerate(rows, start=2):
            where = f"{path}: line {line}"
            if None in row or any(v is None for v in row.values()):
                raise ProtocolError(f"{where}: has {len(columns)} columns in the header only")
            image = row["image"]
            shared = {
                "source": row["source_prompt"],
                "class_word": row.get("class_word") or class_word_from_name(image),
                "edit_type": row.get("edit_type") or None,
            }
            item = grouped.setdefault(image, {"where": where, "prompts": [], "masks": {}, **shared})
            for field, value in shared.items():
                if item[field] != value:
                    raise ProtocolError(f"{where}: {field} differs from an earlier row of {image}")
            target = row["target_prompt"]
            if target in item["prompts"]:
                raise ProtocolError(f"{where}: {image} lists the target prompt {target!r} twice")
            item["prompts"].append(target)
            if row.get("mask"):
                item["masks"][target] = row["mask"]
        if not grouped:
            raise ProtocolError(f"{path}: no rows")
        items = [
            make_item(fields.pop("where"), id=item_id(Path(image).stem), image=image, **fields)
            for image, fields in grouped.items()
        ]
        return DatasetRead(items, str(path), [path])


FORMAT = CsvFolderFormat()
