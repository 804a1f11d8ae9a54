"""A protocol's dataset: its items with absolute paths, read inline or from a folder by
the first dataset format (``DATASET_FORMATS``) that recognises it.

Checks that every file exists; what the images hold is checked when the plan reads
them (``runner.plan``) and by the validation pass (``runner.validate``).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from ..registry import Registry, suggest
from .fields import ProtocolError, short
from .root import Protocol
from .sections import DatasetItem
from .strict_yaml import read_yaml_file


@dataclass(frozen=True)
class ResolvedItem:
    """A dataset item with absolute paths."""

    spec: DatasetItem
    image_path: Path
    mask_path: Path | None
    prompt_masks: dict[str, Path] = dataclasses.field(default_factory=dict)

    def mask_for(self, prompt: str) -> Path | None:
        """The mask of one edit: its own if the item gives one, else the item's."""
        return self.prompt_masks.get(prompt, self.mask_path)


class DatasetFormat(typing.Protocol):
    """A way a folder holds a dataset. ``marker`` names what makes a folder one of its
    own (for the error when none is found); ``read`` returns its items, paths relative
    to the folder, and the file that messages about them should name."""

    marker: str

    def recognises(self, folder: Path) -> bool: ...

    def read(self, folder: Path) -> tuple[list[DatasetItem], str]: ...


class ManifestFormat:
    """A folder with manifest.yaml: ``items`` (each a ``DatasetItem``), a ``description``."""

    marker = "manifest.yaml"

    def recognises(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read(self, folder: Path) -> tuple[list[DatasetItem], str]:
        manifest = folder / self.marker
        raw = read_yaml_file(manifest, ProtocolError) or {}
        if not isinstance(raw, dict):
            kind = type(raw).__name__
            raise ProtocolError(f"{manifest}: expected a mapping with 'items', got a {kind}")
        extra = sorted(map(str, set(raw) - {"items", "description"}))
        if extra:
            raise ProtocolError(f"{manifest}: expected 'items' (and 'description'), got {extra}")
        try:
            items = TypeAdapter(list[DatasetItem]).validate_python(raw.get("items") or [])
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) if str(p).isprintable() else short(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                hint = suggest(first["loc"][-1], list(DatasetItem.model_fields))
                raise ProtocolError(f"{manifest}: unknown field 'items.{where}' ({hint})") from None
            message = first["msg"].removeprefix("Value error, ")
            raise ProtocolError(f"{manifest}: items.{where}: {message}") from None
        return items, str(manifest)


# formats in the order they are tried on a dataset folder; a new format is one entry
DATASET_FORMATS: Registry[DatasetFormat] = Registry(
    "dataset format", ProtocolError, {"manifest": ManifestFormat()}
)


def read_folder(spec_path: str, folder: Path) -> tuple[list[DatasetItem], str]:
    """The items of the first format that recognises ``folder``."""
    formats = [DATASET_FORMATS.get(name) for name in DATASET_FORMATS.names()]
    for fmt in formats:
        if fmt.recognises(folder):
            return fmt.read(folder)
    markers = " or ".join(f.marker for f in formats)
    raise ProtocolError(f"dataset {spec_path!r}: no {markers} in {folder}")


def resolved_path(path: Path, what: str) -> Path:
    """``path`` made absolute with its links followed; a symlink loop (pathlib's
    RuntimeError) or an unreadable link is a ProtocolError naming ``what`` and the path."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as err:
        raise ProtocolError(
            f"{what}: {path} cannot be followed ({err}; a symlink loop? point it at a real file)"
        ) from None


def resolve_dataset(protocol: Protocol, root: Path = Path(".")) -> list[ResolvedItem]:
    """Items with absolute paths, read by the dataset's format. Checks files exist (not
    contents)."""
    spec = protocol.dataset
    if spec.items is not None:
        items, base, source = spec.items, root, "protocol dataset.items"
    else:
        folder = Path(spec.path)
        if not folder.is_dir() and (root / "datasets" / spec.path).is_dir():
            folder = root / "datasets" / spec.path
        items, source = read_folder(spec.path, folder)
        base = folder
    if not items:
        raise ProtocolError(f"{source}: the dataset has no items")
    ids = [i.id for i in items]
    for item_id in ids:
        if ids.count(item_id) > 1:
            raise ProtocolError(f"{source}: item id {item_id!r} is used twice (ids must be unique)")
    resolved = []
    for item in items:
        where = f"{source}: item {item.id!r}"
        image = resolved_path(base / item.image, f"{where}: image")
        if not image.is_file():
            raise ProtocolError(f"{where}: image file not found: {image}")
        mask = resolved_path(base / item.mask, f"{where}: mask") if item.mask else None
        prompt_masks = {p: resolved_path(base / m, f"{where}: mask") for p, m in item.masks.items()}
        for path in [mask, *prompt_masks.values()]:
            if path is not None and not path.is_file():
                raise ProtocolError(f"{source}: item {item.id!r}: mask file not found: {path}")
        resolved.append(ResolvedItem(item, image, mask, prompt_masks))
    return resolved
