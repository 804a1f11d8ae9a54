"""What the benchmark formats share: one-line errors on their JSON, ids and class words
made from file names, and derived files written by content."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..fileio import write_atomic
from ..protocol.fields import SAFE_ID, ProtocolError
from ..protocol.sections import DatasetItem


def load_json(path: Path) -> Any:
    """The parsed file; unreadable or malformed JSON is a ProtocolError naming it."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError) as err:
        raise ProtocolError(f"{path}: cannot be read ({err})") from None
    except json.JSONDecodeError as err:
        raise ProtocolError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None


def item_id(text: str) -> str:
    """``text`` as an item id (it names files in the run directory): characters outside
    SAFE_ID become '-', at most 128 of them."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "-", text).lstrip("._+-")[:128] or "item"
    assert SAFE_ID.match(cleaned)
    return cleaned


def class_word_from_name(name: str) -> str:
    """The subject a file name states ("teddy_bear2.jpg" -> "teddy bear"), for SINE's
    fine-tune prompt where the dataset names no class; "object" when it states none."""
    words = re.findall(r"[A-Za-z]+", Path(name).stem)
    return " ".join(w.lower() for w in words) or "object"


def strip_brackets(prompt: str) -> str:
    """PIE-Bench marks the changed words with [ ]: the model sees the prompt without them."""
    return " ".join(prompt.replace("[", "").replace("]", "").split())


def write_png(folder: Path, array: np.ndarray) -> Path:
    """``array`` (uint8, HxW or HxWx3) as a PNG named by the sha256 of its pixels and
    shape under ``folder``: the same content is one file, written once, atomically."""
    from PIL import Image

    array = np.ascontiguousarray(array, dtype=np.uint8)
    h = hashlib.sha256(repr(array.shape).encode() + array.tobytes()).hexdigest()
    path = folder / f"{h[:32]}.png"
    if not path.is_file():
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        write_atomic(path, buffer.getvalue())
    return path


def write_blob(folder: Path, data: bytes, suffix: str) -> Path:
    """``data`` as a file named by its sha256 under ``folder`` (a distributed image kept
    byte for byte): the same bytes are one file, written once, atomically."""
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
    if not path.is_file():
        write_atomic(path, data)
    return path


def make_item(where: str, **fields: Any) -> DatasetItem:
    """A DatasetItem; a field it refuses (an empty prompt) is a ProtocolError naming
    ``where`` (the file and the entry)."""
    try:
        return DatasetItem(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(map(str, first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        raise ProtocolError(f"{where}: {field + ': ' if field else ''}{message}") from None
