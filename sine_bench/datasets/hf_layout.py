"""Hugging Face ``datasets`` layouts on disk, read with pyarrow alone (no ``datasets``).

Three layouts hold the same tables: parquet files as the Hub serves them
(``data/<split>-00000-of-00001.parquet``), the Arrow IPC files ``save_to_disk`` writes
(``<split>/data-00000-of-00001.arrow`` beside ``state.json``), and ``load_dataset``'s
cache (``<builder>-<split>.arrow``). A file's split is read from its name (the shard
suffix dropped, then the part after the last '-'; ``data`` and bare numbers take their
folder's name). An ``Image`` column is a struct of ``bytes`` and ``path``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

from ..protocol.fields import ProtocolError
from .common import write_blob

SUFFIXES = (".parquet", ".arrow")
BATCH_ROWS = 32  # rows decoded at once: a MagicBrush row holds three 512 x 512 images
_SHARD = re.compile(r"^(?P<name>.+?)-\d+-of-\d+$")


def data_files(folder: Path) -> list[Path]:
    """Every parquet / arrow file under ``folder`` (hidden folders skipped), sorted."""
    if not folder.is_dir():
        return []
    found = (p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    visible = (p for p in found if not any(x.startswith(".") for x in p.relative_to(folder).parts))
    return sorted(visible)


def split_of(path: Path, folder: Path) -> str:
    """The split a data file belongs to ("" for a single saved Dataset at the root)."""
    match = _SHARD.match(path.stem)
    name = match.group("name") if match else path.stem
    name = name.rsplit("-", 1)[-1]
    if name == "data" or name.isdigit():
        return "" if path.parent == folder else path.parent.name
    return name


def select_split(folder: Path, split: str | None) -> list[Path]:
    """The data files of ``split``; without one, the folder must hold a single split."""
    files = data_files(folder)
    splits: dict[str, list[Path]] = {}
    for path in files:
        splits.setdefault(split_of(path, folder), []).append(path)
    names = ", ".join(sorted(splits)) or "none"
    if split is not None:
        if split not in splits:
            raise ProtocolError(f"dataset.split: no split {split!r} in {folder} (splits: {names})")
        return splits[split]
    if len(splits) > 1:
        raise ProtocolError(
            f"{folder}: holds the splits {names}; choose one with dataset.split (or --split)"
        )
    return files


def _open_arrow(path: Path):
    import pyarrow as pa

    try:  # save_to_disk and the cache write the stream format; accept the file format too
        return pa.ipc.open_stream(pa.memory_map(str(path)))
    except pa.ArrowInvalid:
        return pa.ipc.open_file(pa.memory_map(str(path)))


def column_names(path: Path) -> list[str]:
    """The table's columns, read from the file's schema alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path) if path.suffix == ".parquet" else _open_arrow(path).schema
    except (OSError, pa.ArrowException) as err:
        kind = path.suffix.lstrip(".")
        raise ProtocolError(f"{path}: not a readable {kind} file ({_first_line(err)})") from None
    return list(schema.names)


def has_columns(folder: Path, columns: tuple[str, ...]) -> bool:
    """Whether the folder's first data file has ``columns`` (how a format recognises its
    own layout; an unreadable file is left for ``read`` to name)."""
    files = data_files(folder)
    if not files:
        return False
    try:
        return set(columns) <= set(column_names(files[0]))
    except ProtocolError:
        return True


def require_columns(path: Path, columns: tuple[str, ...]) -> None:
    """ProtocolError naming the file and every column of ``columns`` it lacks."""
    have = column_names(path)
    missing = [c for c in columns if c not in have]
    if missing:
        raise ProtocolError(f"{path}: missing column {', '.join(missing)} (has {', '.join(have)})")


def rows(path: Path, columns: list[str]) -> Iterator[dict]:
    """The rows' ``columns`` as dicts, a few at a time (images stay bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".parquet":
            batches = pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns)
        else:
            batches = iter(_open_arrow(path))
        for batch in batches:
            for row in batch.to_pylist():
                yield {c: row[c] for c in columns}
    except (OSError, pa.ArrowException) as err:
        raise ProtocolError(f"{path}: cannot be read ({_first_line(err)})") from None


def image_file(value: object, data_file: Path, where: str, column: str, derived: Path) -> Path:
    """An ``Image`` cell written under ``derived`` as its own bytes (named by their
    sha256); a cell that is empty, names a missing file or does not decode is a
    ProtocolError naming ``where`` and the column."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(value, dict) or not (value.get("bytes") or value.get("path")):
        raise ProtocolError(f"{where}: {column} holds no image")
    data = value.get("bytes")
    if not data:  # stored by path, relative to the data file
        path = data_file.parent / str(value["path"])
        if not path.is_file():
            raise ProtocolError(f"{where}: {column}: image file not found: {path}")
        data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            suffix = "." + (image.format or "png").lower().replace("jpeg", "jpg")
            image.verify()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        raise ProtocolError(f"{where}: {column} is not a readable image ({err})") from None
    try:
        return write_blob(derived, data, suffix)
    except OSError as err:
        raise ProtocolError(f"{where}: cannot write {column} under {derived} ({err})") from None


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
