"""GEdit-Bench (Step1X-Edit, Liu et al. 2025) in the Hugging Face datasets layout of
``stepfun-ai/GEdit-Bench``: columns ``key``, ``task_type``, ``instruction``,
``instruction_language``, ``input_image`` and, where present, ``input_image_raw`` and
``Intersection_exist`` (parquet or arrow, ``hf_layout``).

Each row is one item, id ``<key>-<instruction_language>`` (the English and Chinese
instructions of one image are two items); its edit type is ``task_type``. The source is
``input_image_raw`` (the full image the benchmark's own generation script edits) when
the column holds one, else ``input_image``. GEdit-Bench ships no captions, masks or
targets (a VLM judges its edits): its prompts are instructions, so every caption-driven
method is refused at plan time.
"""

from __future__ import annotations

from pathlib import Path

from ..protocol.dataset import DatasetRead, DatasetRequest
from ..protocol.fields import ProtocolError
from . import hf_layout
from .common import item_id, make_item

COLUMNS = ("key", "task_type", "instruction", "instruction_language", "input_image")
RAW = "input_image_raw"
PREPARATION = (
    "gedit: sources written from the data files as distributed (input_image_raw where "
    "present, else input_image; bytes kept); prompts are instructions"
)


class GEditFormat:
    marker = "parquet/arrow files with columns " + ", ".join(COLUMNS)

    def recognises(self, folder: Path) -> bool:
        return hf_layout.has_columns(folder, ("key", "task_type", "instruction_language"))

    def read(self, request: DatasetRequest) -> DatasetRead:
        files = hf_layout.select_split(request.folder, request.spec.split)
        derived = request.derived / "gedit"
        items = []
        for path in files:
            hf_layout.require_columns(path, COLUMNS)
            columns = [*COLUMNS, *([RAW] if RAW in hf_layout.column_names(path) else [])]
            for index, row in enumerate(hf_layout.rows(path, columns)):
                where = f"{path}: row {index}"
                for field in COLUMNS[:-1]:
                    if not isinstance(row[field], str) or not row[field].strip():
                        raise ProtocolError(f"{where}: {field} must be text")
                where = f"{where} ({row['key']})"
                raw = row.get(RAW)
                held = isinstance(raw, dict) and (raw.get("bytes") or raw.get("path"))
                column = RAW if held else "input_image"
                source = hf_layout.image_file(row[column], path, where, column, derived)
                items.append(
                    make_item(
                        where,
                        id=item_id(f"{row['key']}-{row['instruction_language']}"),
                        image=str(source.resolve()),
                        class_word="object",
                        prompts=[row["instruction"]],
                        edit_type=row["task_type"],
                        prompt_kind="instruction",
                    )
                )
        if not items:
            raise ProtocolError(f"{request.folder}: its GEdit-Bench files hold no rows")
        return DatasetRead(items, str(request.folder), files, PREPARATION)


FORMAT = GEditFormat()
