"""``jsonl``: a dataset as ``dataset.jsonl``, one source image per line, to show the
dataset-format contract (``marker``, ``recognises``, ``read`` -> ``DatasetRead``).

Each line is a JSON object with ``image`` (a path relative to the folder) and
``prompts`` (a list of edit prompts), and optionally ``id`` (default: the image's file
name), ``source`` (its description), ``class_word`` (default: the subject the file
name states), ``masks`` (prompt -> mask path, white = the region the edit may change)
and ``edit_type``. A line that is not such an object is a ProtocolError naming the
file and line. The file's bytes make the dataset's content hash (``files``), so
editing it moves every key that reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

from sine_bench.datasets.common import class_word_from_name, item_id, make_item
from sine_bench.protocol.dataset import DatasetRead, DatasetRequest
from sine_bench.protocol.fields import ProtocolError

FIELDS = ("id", "image", "prompts", "source", "class_word", "masks", "edit_type")


class JsonlFormat:
    marker = "dataset.jsonl"

    def recognises(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read(self, request: DatasetRequest) -> DatasetRead:
        path = request.folder / self.marker
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ProtocolError(f"{path}: cannot be read ({err})") from None
        items, seen = [], set()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as err:
                raise ProtocolError(f"{where}: not JSON ({err.msg})") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
                raise ProtocolError(f"{where}: needs an object with an 'image' path")
            unknown = sorted(set(entry) - set(FIELDS))
            if unknown:
                raise ProtocolError(f"{where}: unknown field(s) {unknown} (known: {FIELDS})")
            image = entry["image"]
            entry.setdefault("id", item_id(Path(image).stem))
            entry.setdefault("class_word", class_word_from_name(image))
            if entry["id"] in seen:
                raise ProtocolError(f"{where}: item id {entry['id']!r} is used twice")
            seen.add(entry["id"])
            items.append(make_item(where, **entry))
        if not items:
            raise ProtocolError(f"{path}: no items")
        return DatasetRead(items, str(path), [path])


FORMAT = JsonlFormat()
