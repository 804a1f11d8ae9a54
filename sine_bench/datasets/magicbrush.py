"""MagicBrush (Zhang et al., NeurIPS 2023) in the Hugging Face datasets layout of
``osunlp/MagicBrush``: columns ``img_id``, ``turn_index``, ``source_img``, ``mask_img``,
``instruction``, ``target_img`` (parquet or arrow, ``hf_layout``).

Each row is one item, id ``<img_id>-<turn_index>``: its source (the real image at turn
1, the previous turn's ground truth after), one prompt, the mask of that edit (white =
the region to edit, sine-bench's convention too) and the ground-truth target the
``*_target`` metrics compare with. Every turn is edited from its ground-truth source
(MagicBrush's single-turn setting); chaining a method's own edits is not done.

MagicBrush's rows carry instructions, not captions. When the folder also holds the
``global_descriptions.json`` MagicBrush distributes with its dev and test images
(``{img_id: {"<img_id>-input.png" | "<img_id>-output<t>.png": caption}}``), the prompt
is the target's caption and the source the input's, so caption-driven methods run;
otherwise the prompt is the instruction and those methods are refused at plan time.
"""

from __future__ import annotations

from pathlib import Path

from ..protocol.dataset import DatasetRead, DatasetRequest
from ..protocol.fields import ProtocolError
from . import hf_layout
from .common import item_id, load_json, make_item

COLUMNS = ("img_id", "turn_index", "source_img", "mask_img", "instruction", "target_img")
CAPTIONS = "global_descriptions.json"
PREPARATION = (
    "magicbrush: each row's images written from the data files as distributed (bytes "
    "kept); one item per (img_id, turn), edited from its ground-truth source"
)


def _captions(folder: Path) -> tuple[dict | None, Path]:
    path = folder / CAPTIONS
    if not path.is_file():
        return None, path
    captions = load_json(path)
    if not isinstance(captions, dict) or not all(isinstance(v, dict) for v in captions.values()):
        raise ProtocolError(f"{path}: expected {{img_id: {{image file name: caption}}}}")
    return captions, path


def _caption(captions: dict, path: Path, img_id: str, image: str, where: str) -> str:
    """The caption of ``<img_id>-<image>.png`` (image: "input" or "output<turn>")."""
    name = f"{img_id}-{image}.png"
    text = captions.get(img_id, {}).get(name)
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError(f"{where}: {path.name} has no caption for {img_id!r} / {name!r}")
    return text


class MagicBrushFormat:
    marker = "parquet/arrow files with columns " + ", ".join(COLUMNS)

    def recognises(self, folder: Path) -> bool:
        return hf_layout.has_columns(folder, ("img_id", "turn_index"))

    def read(self, request: DatasetRequest) -> DatasetRead:
        files = hf_layout.select_split(request.folder, request.spec.split)
        captions, captions_path = _captions(request.folder)
        derived = request.derived / "magicbrush"
        items = []
        for path in files:
            hf_layout.require_columns(path, COLUMNS)
            for index, row in enumerate(hf_layout.rows(path, list(COLUMNS))):
                where = f"{path}: row {index}"
                img_id, turn = row["img_id"], row["turn_index"]
                if not isinstance(img_id, str) or not img_id.strip():
                    raise ProtocolError(f"{where}: img_id must be text")
                if not isinstance(turn, int) or turn < 1:
                    raise ProtocolError(f"{where}: turn_index must be a whole number >= 1")
                if not isinstance(row["instruction"], str):
                    raise ProtocolError(f"{where}: instruction must be text")
                where = f"{where} ({img_id}, turn {turn})"
                image = {
                    c: hf_layout.image_file(row[c], path, where, c, derived)
                    for c in ("source_img", "mask_img", "target_img")
                }
                prompt, source, kind = row["instruction"], "", "instruction"
                if captions is not None:
                    before = "input" if turn == 1 else f"output{turn - 1}"
                    prompt = _caption(captions, captions_path, img_id, f"output{turn}", where)
                    source = _caption(captions, captions_path, img_id, before, where)
                    kind = "caption"
                items.append(
                    make_item(
                        where,
                        id=item_id(f"{img_id}-{turn}"),
                        image=str(image["source_img"].resolve()),
                        class_word="object",
                        source=source,
                        prompts=[prompt],
                        mask=str(image["mask_img"].resolve()),
                        targets={prompt: str(image["target_img"].resolve())},
                        prompt_kind=kind,
                    )
                )
        if not items:
            raise ProtocolError(f"{request.folder}: its MagicBrush files hold no rows")
        read = [*files, captions_path] if captions is not None else files
        return DatasetRead(items, str(request.folder), read, PREPARATION)


FORMAT = MagicBrushFormat()
