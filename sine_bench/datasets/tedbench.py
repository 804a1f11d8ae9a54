"""TEdBench (Imagic's benchmark) as distributed: ``input_list.json``, a list of
``{img_name, target_text}`` over the images in ``originals/``.

One item per image, its prompts every target text given for it. TEdBench has no
source captions: an item's ``source`` is empty, so a method that needs one to invert
with (ddim-inversion) is refused at plan time in one line naming the item; SINE,
SDEdit, Imagic and DreamBooth need none. The class word (SINE's fine-tune prompt) is
the subject the file name states ("teddy_bear.jpeg" -> "teddy bear").
"""

from __future__ import annotations

from pathlib import Path

from ..protocol.dataset import DatasetRead, DatasetRequest
from ..protocol.fields import ProtocolError
from .common import class_word_from_name, item_id, load_json, make_item


class TEdBenchFormat:
    marker = "input_list.json"

    def recognises(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read(self, request: DatasetRequest) -> DatasetRead:
        listing = request.folder / self.marker
        entries = load_json(listing)
        if not isinstance(entries, list) or not entries:
            raise ProtocolError(
                f"{listing}: expected a non-empty list of {{img_name, target_text}}"
            )
        prompts: dict[str, list[str]] = {}
        for index, entry in enumerate(entries):
            where = f"{listing}: entry {index}"
            if not isinstance(entry, dict) or not {"img_name", "target_text"} <= set(entry):
                raise ProtocolError(f"{where}: expected a mapping with img_name and target_text")
            name, text = entry["img_name"], entry["target_text"]
            if not isinstance(name, str) or not isinstance(text, str) or not name:
                raise ProtocolError(f"{where}: img_name and target_text must be text")
            if not (request.folder / "originals" / name).is_file():
                raise ProtocolError(
                    f"{where}: image file not found: {request.folder / 'originals' / name}"
                )
            listed = prompts.setdefault(name, [])
            if text not in listed:
                listed.append(text)
        items = [
            make_item(
                f"{listing}: image {name!r}",
                id=item_id(Path(name).stem),
                image=f"originals/{name}",
                class_word=class_word_from_name(name),
                prompts=texts,
            )
            for name, texts in prompts.items()
        ]
        files = [listing, *(request.folder / "originals" / name for name in prompts)]
        return DatasetRead(items, str(listing), files, "tedbench: no source captions (empty)")


FORMAT = TEdBenchFormat()
