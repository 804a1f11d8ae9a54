"""PIE-Bench as its authors distribute it (cure-lab/PnPInversion): ``mapping_file.json``
and ``annotation_images/<image_path>``.

Each entry (keyed by a 12-digit id) becomes one item: its source is
``original_prompt`` and its one prompt ``editing_prompt``, both with the [ ] that mark
the changed words removed; its edit type is ``editing_type_id``; its class word the
first of ``blended_word`` (the source's edited word), else "object". Masks are decoded
as the benchmark's own decoder does (not COCO RLE): ``[start, length, ...]`` runs of
1 over the row-major 512x512 image, a run reaching past the end cut at the end, then
the one-pixel border set to 1; 1 = the region to edit (white in the mask file).
Sources that are not 512x512 are centre-cropped to a square and resized to 512
(bicubic), as the benchmark's methods load them, so the mask covers what it marked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..protocol.dataset import DatasetRead, DatasetRequest
from ..protocol.fields import ProtocolError
from .common import item_id, load_json, make_item, strip_brackets, write_png

SIDE = 512
FIELDS = (
    "image_path",
    "original_prompt",
    "editing_prompt",
    "editing_instruction",
    "editing_type_id",
    "blended_word",
    "mask",
)
PREPARATION = (
    "pie-bench: masks decoded from mapping_file.json (runs over the row-major 512x512 "
    "image, border set to 1) into PNGs; sources used as distributed when 512x512, else "
    "centre-cropped to a square and resized to 512x512 (bicubic); [ ] removed from prompts"
)


def decode_mask(runs: list[int], where: str) -> np.ndarray:
    """The 512x512 uint8 mask (1 = edit) of PIE-Bench's run list; ProtocolError naming
    ``where`` for a list that is not whole (start, length) pairs inside the image."""
    if not isinstance(runs, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in runs
    ):
        raise ProtocolError(f"{where}: mask must be a list of integers")
    if len(runs) % 2:
        raise ProtocolError(
            f"{where}: mask has {len(runs)} values; it must be (start, length) pairs"
        )
    flat = np.zeros(SIDE * SIDE, dtype=np.uint8)
    for start, length in zip(runs[::2], runs[1::2], strict=True):
        if start < 0 or length < 0 or start >= flat.size:
            raise ProtocolError(
                f"{where}: mask run ({start}, {length}) lies outside the {SIDE}x{SIDE} image "
                f"({flat.size} pixels)"
            )
        flat[start : start + length] = 1  # a run past the end stops at the end
    mask = flat.reshape(SIDE, SIDE)
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = 1
    return mask


def square_512(path: Path) -> np.ndarray | None:
    """The source centre-cropped to a square and resized to 512 (RGB uint8), or None
    when it already is 512x512 (read from the header: a rotation keeps a square square;
    the file is then used as is)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as header:
            if header.size == (SIDE, SIDE):
                return None
    except (OSError, UnidentifiedImageError, ValueError):
        pass  # open_image says what is wrong with it, in its one line
    from ..images import open_image  # imports torch: only for sources that need cropping

    image, _ = open_image(path, "RGB")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((SIDE, SIDE), Image.BICUBIC)
    return np.asarray(square, dtype=np.uint8)


class PieBenchFormat:
    marker = "mapping_file.json"

    def recognises(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read(self, request: DatasetRequest) -> DatasetRead:
        mapping_path = request.folder / self.marker
        mapping = load_json(mapping_path)
        if not isinstance(mapping, dict) or not mapping:
            raise ProtocolError(f"{mapping_path}: expected a non-empty mapping of id -> entry")
        derived = request.derived / "pie-bench"
        items, files = [], [mapping_path]
        for key, entry in mapping.items():
            where = f"{mapping_path}: entry {key!r}"
            if not isinstance(entry, dict):
                raise ProtocolError(f"{where}: expected a mapping, got a {type(entry).__name__}")
            missing = [f for f in FIELDS if f not in entry]
            if missing:
                raise ProtocolError(f"{where}: missing {', '.join(missing)}")
            for field in FIELDS[:-1]:
                if not isinstance(entry[field], str):
                    raise ProtocolError(f"{where}: {field} must be text")
            image = request.folder / "annotation_images" / entry["image_path"]
            if not image.is_file():
                raise ProtocolError(f"{where}: image file not found: {image}")
            files.append(image)
            mask = decode_mask(entry["mask"], where)
            try:
                mask_file = write_png(derived / "masks", mask * 255)
                square = square_512(image)
                source = image if square is None else write_png(derived / "sources", square)
            except InputError as err:  # an undecodable source (images.py): name its entry too
                raise ProtocolError(f"{where}: {err}") from None
            except OSError as err:
                raise ProtocolError(f"{where}: cannot write its derived files ({err})") from None
            words = entry["blended_word"].split()
            items.append(
                make_item(
                    where,
                    id=item_id(str(key)),
                    image=str(source.resolve()),
                    class_word=words[0] if words else "object",
                    source=strip_brackets(entry["original_prompt"]),
                    prompts=[strip_brackets(entry["editing_prompt"])],
                    mask=str(mask_file.resolve()),
                    edit_type=entry["editing_type_id"],
                )
            )
        return DatasetRead(items, str(mapping_path), files, PREPARATION)


FORMAT = PieBenchFormat()
