"""Reading protocol files: YAML (strictly), ``include:`` merging, one-line errors.

The error for a bad field names the file and the field path, suggests the closest
valid name for a typo, and never spans two lines (a pydantic report would).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..registry import suggest
from .fields import ProtocolError, key_text, short
from .root import Protocol
from .sections import check_limit
from .strict_yaml import read_yaml_file


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class at a location in the Protocol (None past a leaf)."""
    current: Any = Protocol
    keyed = False  # the previous field is a mapping: this part is one of its keys
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        keyed = _is_mapping(field.annotation)
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _is_mapping(annotation) -> bool:
    """A ``dict[...]`` field (maybe optional), e.g. ``methods``: its keys are names."""
    options = (annotation, *typing.get_args(annotation))
    return any(typing.get_origin(a) is dict for a in options)


def _inner_model(annotation) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    # pydantic puts union-branch tags ('list[DatasetItem]') and validator kinds in the
    # location; a person wants the field path only
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
    loc = tuple(p for p in loc if p not in ("function-after", "function-before"))
    where = ".".join(key_text(p) for p in loc)

    if first["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        options = list(parent.model_fields) if parent else []
        options += ["include"] if parent is Protocol else []
        hint = f" ({suggest(loc[-1], options)})" if options else ""
        named = f"'{where}'" if where else "(top level)"
        return f"{source}: unknown field {named}{hint}"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] != "value_error":  # pydantic's own wording: point to the reference
        message += " (see `sine-bench schema` for every field's type and range)"
    if not where or message.startswith((f"{where}.", f"{where}:", f"{where} ")):
        return f"{source}: {message}"  # the message names the field itself
    return f"{source}: {where}: {message}"


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ProtocolError(f"protocol file not found: {path}")
    data = read_yaml_file(path, ProtocolError)
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: a protocol must be a mapping of fields")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` wins; nested mappings merge, lists and scalars replace."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """The protocol as a dict with every ``include:`` merged in (includes first)."""
    try:
        path = Path(path).resolve()
    except RuntimeError as err:  # pathlib's "Symlink loop from ..."
        raise ProtocolError(
            f"{path}: cannot be followed ({err}; point it at a real file)"
        ) from None
    if path in _seen:
        raise ProtocolError(f"{path}: include cycle")
    data = _read_yaml(path)
    includes = data.pop("include", [])
    includes = [includes] if isinstance(includes, str) else includes
    if not isinstance(includes, list) or not all(isinstance(i, str) and i for i in includes):
        raise ProtocolError(
            f"{path}: include: must be a file name or a list of file names, got {short(includes)}"
        )
    merged: dict = {}
    for inc in includes:
        merged = deep_merge(merged, load_raw(path.parent / inc, (*_seen, path)))
    return deep_merge(merged, data)


def parse_protocol(data: dict, source: str = "protocol") -> Protocol:
    try:
        return Protocol.model_validate(data)
    except ValidationError as err:
        raise ProtocolError(_format_error(err, source)) from None


def load_protocol(path: str | Path, limit: int | float | None = None) -> Protocol:
    """Read, merge includes, and validate a protocol file. ``limit`` (``run --limit``)
    sets ``dataset.limit`` and writes to ``<output>-limit-<limit>``, so a quick look never
    replaces the protocol's full run directory."""
    protocol = parse_protocol(load_raw(path), str(path))
    if limit is None:
        return protocol
    data = load_raw(path)
    dataset = data.get("dataset")
    dataset = {"path": dataset} if isinstance(dataset, str) else dict(dataset or {})
    data["dataset"] = dataset | {"limit": limit}
    output = f"{protocol.output_dir}-limit-{limit}".replace("{", "{{").replace("}", "}}")
    data["output"] = output
    return parse_protocol(data, f"{path} (with --limit {limit})")


def parse_limit(text: str) -> int | float:
    """``--limit``'s value: a whole number of items or a fraction in (0, 1)."""
    try:
        value: int | float = int(text) if text.strip().isdigit() else float(text)
    except ValueError:
        raise ProtocolError(
            f"--limit: {short(text)} is not a number of items or a fraction in (0, 1)"
        ) from None
    try:
        return check_limit(value)
    except ValueError as err:
        raise ProtocolError(f"--limit: {err}") from None
