"""A protocol's dataset: its items with absolute paths, read inline or from a folder by
the first dataset format (``formats.DATASET_FORMATS``) that recognises it.

Checks that every file exists; what the images hold is checked when the plan reads
them (``runner.plan``) and by the validation pass (``runner.validate``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from ..errors import InputError
from ..fileio import file_sha256
from ..registry import suggest
from .fields import ProtocolError, key_text
from .formats import DATASET_FORMATS
from .root import Protocol
from .sections import DatasetItem, DatasetSpec
from .strict_yaml import read_yaml_file


@dataclass(frozen=True)
class ResolvedItem:
    """A dataset item with absolute paths."""

    spec: DatasetItem
    image_path: Path
    mask_path: Path | None
    prompt_masks: dict[str, Path] = dataclasses.field(default_factory=dict)
    prompt_targets: dict[str, Path] = dataclasses.field(default_factory=dict)

    def mask_for(self, prompt: str) -> Path | None:
        """The mask of one edit: its own if the item gives one, else the item's."""
        return self.prompt_masks.get(prompt, self.mask_path)

    def target_for(self, prompt: str) -> Path | None:
        """The ground-truth edit of one prompt, None when the dataset ships none."""
        return self.prompt_targets.get(prompt)


@dataclass(frozen=True)
class DatasetRequest:
    """What a format reads: the folder, the protocol's dataset section (its options),
    and ``derived``, the folder where a format writes files it derives from the
    distributed ones (decoded masks, cropped sources), each named by its content so a
    file there is never stale and never half-written."""

    folder: Path
    spec: DatasetSpec
    derived: Path


@dataclass
class DatasetRead:
    """A format's answer: items (paths relative to the folder, or absolute), the file
    messages about them name, the distributed files read (their bytes make the content
    hash), and what preparing them does beyond reading (recorded in the run manifest)."""

    items: list[DatasetItem]
    source: str
    files: list[Path]
    preparation: str = ""


class DatasetFormat(typing.Protocol):
    """A way a folder holds a dataset. ``marker`` names what makes a folder one of its
    own (for the error when none is found)."""

    marker: str

    def recognises(self, folder: Path) -> bool: ...

    def read(self, request: DatasetRequest) -> DatasetRead: ...


class ManifestFormat:
    """A folder with manifest.yaml: ``items`` (each a ``DatasetItem``), a ``description``."""

    marker = "manifest.yaml"

    def recognises(self, folder: Path) -> bool:
        return (folder / self.marker).is_file()

    def read(self, request: DatasetRequest) -> DatasetRead:
        manifest = request.folder / self.marker
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
            where = ".".join(key_text(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                hint = suggest(first["loc"][-1], list(DatasetItem.model_fields))
                raise ProtocolError(f"{manifest}: unknown field 'items.{where}' ({hint})") from None
            message = first["msg"].removeprefix("Value error, ")
            raise ProtocolError(f"{manifest}: items.{where}: {message}") from None
        return DatasetRead(items, str(manifest), [manifest])


# the manifest.yaml format's entry in ``formats.DATASET_FORMATS``
MANIFEST_FORMAT = ManifestFormat()


def read_folder(request: DatasetRequest) -> DatasetRead:
    """The items of the format the spec names, else of the first that recognises the
    folder."""
    spec, folder = request.spec, request.folder
    if spec.format is not None:
        fmt = DATASET_FORMATS.get(spec.format)
        if not _call(spec.format, fmt.recognises, folder):
            raise ProtocolError(
                f"dataset {spec.path!r}: format {spec.format!r} needs {fmt.marker} in {folder}"
            )
        return _call(spec.format, fmt.read, request)
    formats = {}
    for name in DATASET_FORMATS.names():  # shipped ones first, then installed plug-ins
        try:
            fmt = formats[name] = DATASET_FORMATS.get(name)
        except ProtocolError:  # a plug-in that does not load: an error only where named
            if DATASET_FORMATS.origin(name) is None:
                raise
            continue
        if _call(name, fmt.recognises, folder):
            return _call(name, fmt.read, request)
    markers = " or ".join(f.marker for f in formats.values())
    raise ProtocolError(f"dataset {spec.path!r}: no {markers} in {folder}")


def _call(name: str, step: typing.Callable, arg: typing.Any) -> typing.Any:
    """A format's ``recognises`` or ``read``; a plug-in's that raises (other than its
    own InputError) or reads no DatasetRead is one error line naming it, not a traceback."""
    origin = DATASET_FORMATS.origin(name)
    if origin is None:  # a shipped format: its errors are its own one-liners
        return step(arg)
    head = f"dataset format {name!r} (plug-in {origin.where()}): {step.__name__}"
    try:
        result = step(arg)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - the plug-in's code may raise anything
        why = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        raise ProtocolError(f"{head} raised {why}") from None
    if step.__name__ == "read" and not isinstance(result, DatasetRead):
        raise ProtocolError(f"{head} returned {type(result).__name__}, not a DatasetRead")
    return result


def resolved_path(path: Path, what: str) -> Path:
    """``path`` made absolute with its links followed; a symlink loop (pathlib's
    RuntimeError) or an unreadable link is a ProtocolError naming ``what`` and the path."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as err:
        raise ProtocolError(
            f"{what}: {path} cannot be followed ({err}; a symlink loop? point it at a real file)"
        ) from None


@dataclass
class ResolvedDataset:
    """The items with absolute paths, the dataset's content hash (the bytes of every
    distributed file read, by path relative to the folder, and the selection), and
    what preparing the files does."""

    items: list[ResolvedItem]
    source: str
    content_hash: str
    preparation: str = ""
    limit: dict | None = None  # dataset.limit's request and what it kept, when given

    def record(self) -> dict:
        """What a run manifest records about its dataset."""
        record = {
            "source": self.source,
            "items": len(self.items),
            "content_hash": self.content_hash,
            "preparation": self.preparation,
        }
        return record | ({"limit": self.limit} if self.limit is not None else {})


def derived_folder(protocol: Protocol) -> Path:
    """Where formats write derived files: beside the protocol's store entries (the
    store's own stages and gc leave it alone)."""
    return Path(protocol.store) / "datasets"


def read_dataset(protocol: Protocol, root: Path = Path(".")) -> ResolvedDataset:
    """Items with absolute paths, read by the dataset's format and filtered to
    ``types``. Checks files exist (not contents)."""
    spec = protocol.dataset
    if spec.items is not None:
        items, base, source = spec.items, root, "protocol dataset.items"
        read = DatasetRead(items, source, [])
    else:
        folder = Path(spec.path)
        if not folder.is_dir() and (root / "datasets" / spec.path).is_dir():
            folder = root / "datasets" / spec.path
        read = read_folder(DatasetRequest(folder, spec, derived_folder(protocol)))
        items, source, base = read.items, read.source, folder
    if spec.types is not None:
        items = _of_types(items, spec.types, source)
    if not items:
        raise ProtocolError(f"{source}: the dataset has no items")
    items, limit = _first_items(items, spec.limit)
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
        targets = {p: resolved_path(base / t, f"{where}: target") for p, t in item.targets.items()}
        for path in targets.values():
            if not path.is_file():
                raise ProtocolError(f"{where}: target image file not found: {path}")
        resolved.append(ResolvedItem(item, image, mask, prompt_masks, targets))
    content = _content_hash(read, base, resolved, spec.types)
    return ResolvedDataset(resolved, source, content, read.preparation, limit)


def _first_items(
    items: list[DatasetItem], limit: int | float | None
) -> tuple[list[DatasetItem], dict | None]:
    """The first items ``limit`` keeps (an integer: that many; a fraction: that share,
    rounded up, at least one), and the record saying so; unchanged without a limit."""
    if limit is None:
        return items, None
    keep = limit if isinstance(limit, int) else max(1, math.ceil(limit * len(items)))
    kept = items[:keep]
    record = {"requested": limit, "items": len(kept), "of": len(items)}
    return kept, record | {"limited": len(kept) < len(items)}


def resolve_dataset(protocol: Protocol, root: Path = Path(".")) -> list[ResolvedItem]:
    """Items with absolute paths (``read_dataset`` without its hash)."""
    return read_dataset(protocol, root).items


def _of_types(items: list[DatasetItem], types: list[str], source: str) -> list[DatasetItem]:
    known = sorted({i.edit_type for i in items if i.edit_type is not None})
    if not known:
        raise ProtocolError(f"{source}: dataset.types selects edit types, but no item has one")
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ProtocolError(f"dataset.types: no item has edit type {unknown[0]!r} (known: {known})")
    return [i for i in items if i.edit_type in types]


def _hashed_fields(item: DatasetItem) -> dict:
    """An item's fields that enter the content hash: paths are hashed as file bytes
    instead, and a field at its default is left out when it was added after hashes
    were first recorded (so a dataset's hash stays what it was)."""
    fields = item.model_dump(mode="json", exclude={"image", "mask", "masks", "targets"})
    if fields["prompt_kind"] == "caption":
        del fields["prompt_kind"]
    return fields


def _content_hash(
    read: DatasetRead, base: Path, items: list[ResolvedItem], types: list[str] | None
) -> str:
    """sha256 over the files read and the selected items' own files (sources and
    masks the format did not derive), each by its path relative to the folder, and
    the selection: equal for the same bytes wherever the folder lies."""

    files = set(read.files)
    for item in items:
        own = (item.image_path, item.mask_path, *item.prompt_masks.values())
        files.update(p for p in (*own, *item.prompt_targets.values()) if p)
    folder = base.resolve()
    shas = {}
    for path in sorted(files):
        resolved = path.resolve()
        if resolved.is_relative_to(folder):
            shas[str(resolved.relative_to(folder))] = file_sha256(resolved)
    specs = [_hashed_fields(i.spec) for i in items]
    payload = {"files": shas, "items": specs, "types": types}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
