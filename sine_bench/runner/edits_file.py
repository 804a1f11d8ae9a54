"""An edits file (``sine-bench score``): one JSON object a line, each an edit made
elsewhere, checked whole before anything is scored.

A line names the dataset ``item``, one of its ``prompt``s and the edited ``image`` (a
path relative to the edits file), and may give ``method``, ``seed``, ``height`` and
``width`` (the size the edit was made at, when not the source's) and any other scalar
fields: settings, which become the cells table's axis columns. Every problem is one
``EditsFileError`` naming the file and line (exit 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..images import ImageInputError, inspect_image
from ..registry import suggest

OWN_FIELDS = ("item", "prompt", "image", "method", "height", "width")
# columns the cells table fills itself: a setting may not take their names
RESERVED = ("cell_id", "prompt_index", "edit_type", "source_size", "finetune_key", "edit_key")
UNNAMED_METHOD = "external"  # the method column of a line that names none


class EditsFileError(InputError):
    """A line of an edits file that cannot be scored (one line naming file and line)."""


@dataclass(frozen=True)
class EditLine:
    """One parsed line: the edit, where it is from and its settings (axis -> value)."""

    number: int  # 1-based line number in the file
    item: str
    prompt: str
    image: Path  # resolved against the edits file's folder
    method: str | None
    size: tuple[int, int] | None  # (height, width) the line declares, else None
    settings: tuple[tuple[str, Any], ...]  # in the line's order; seed included

    @property
    def method_label(self) -> str:
        return self.method or UNNAMED_METHOD


def read_edits(path: Path) -> list[EditLine]:
    """Every line of the edits file, parsed (blank lines skipped); not yet checked
    against the dataset (``check_lines``)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not content
    except FileNotFoundError:
        raise EditsFileError(f"edits file {path}: not found") from None
    except IsADirectoryError:
        raise EditsFileError(f"edits file {path}: is a folder (give a .jsonl file)") from None
    except UnicodeDecodeError as err:
        raise EditsFileError(f"edits file {path}: not UTF-8 text ({err.reason})") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            lines.append(_parse(path, number, raw))
    if not lines:
        raise EditsFileError(f"edits file {path}: no edits (one JSON object a line)")
    return lines


def _parse(path: Path, number: int, raw: str) -> EditLine:
    where = f"{path} line {number}"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as err:
        raise EditsFileError(f"{where}: not valid JSON ({getattr(err, 'msg', err)})") from None
    if not isinstance(data, dict):
        raise EditsFileError(f"{where}: not a JSON object (give {{item, prompt, image, ...}})")
    for name in ("item", "prompt", "image"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise EditsFileError(f"{where}: '{name}' is missing or not a non-empty string")
    method = data.get("method")
    if method is not None and (not isinstance(method, str) or not method.strip()):
        raise EditsFileError(f"{where}: 'method' must be a non-empty string")
    size = _declared_size(where, data)
    settings = []
    for name, value in data.items():
        if name in OWN_FIELDS:
            continue
        if name in RESERVED or name.startswith("cost.") or not name.strip():
            raise EditsFileError(f"{where}: field {name!r} is a column sine-bench fills itself")
        if not _scalar(value):
            raise EditsFileError(
                f"{where}: setting {name!r} must be a string, number, true/false or null"
            )
        settings.append((name, value))
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise EditsFileError(f"{where}: 'seed' must be a non-negative integer, got {seed!r}")
    image = path.parent / data["image"]
    return EditLine(number, data["item"], data["prompt"], image, method, size, tuple(settings))


def _declared_size(where: str, data: dict) -> tuple[int, int] | None:
    given = [name for name in ("height", "width") if name in data]
    if not given:
        return None
    if len(given) == 1:
        raise EditsFileError(f"{where}: give both 'height' and 'width', or neither")
    sides = (data["height"], data["width"])
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sides):
        raise EditsFileError(f"{where}: 'height' and 'width' must be positive integers")
    return sides


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def check_lines(
    path: Path, lines: list[EditLine], prompts: dict[str, list[str]], sizes: dict[str, tuple]
) -> dict[int, tuple[int, int]]:
    """Each line's item and prompt exist (``prompts``: item -> its prompts), its image
    decodes and has the source's size (``sizes``: item -> (H, W)) or the size it
    declares, and no two lines are the same cell. Returns line number -> image (H, W)."""
    seen: dict[tuple, int] = {}
    found = {}
    for line in lines:
        where = f"{path} line {line.number}"
        if line.item not in prompts:
            hint = suggest(line.item, list(prompts))
            if not hint.startswith("did you"):  # the dataset's ids may be hundreds
                hint = f"the dataset has {len(prompts)} items, e.g. {', '.join(list(prompts)[:3])}"
            raise EditsFileError(f"{where}: unknown item {line.item!r} ({hint})")
        if line.prompt not in prompts[line.item]:
            known = "; ".join(repr(p) for p in prompts[line.item][:5])
            raise EditsFileError(
                f"{where}: item {line.item!r} has no prompt {line.prompt!r} (its prompts: {known})"
            )
        # the cell the line fills: settings in any order, a null one as an absent one
        given = tuple(sorted((k, v) for k, v in line.settings if v is not None))
        ident = (line.item, line.prompt, line.method_label, given)
        if ident in seen:
            raise EditsFileError(
                f"{where}: the same item, prompt, method and settings as line {seen[ident]} "
                "(give each edit once, or a setting that tells them apart, e.g. 'seed')"
            )
        seen[ident] = line.number
        try:
            info = inspect_image(line.image)
        except ImageInputError as err:
            raise EditsFileError(f"{where}: {err}") from None
        found[line.number] = (info.height, info.width)
        expected = line.size or sizes[line.item]
        if found[line.number] != tuple(expected):
            whose = "the size the line gives" if line.size else f"item {line.item!r}'s source"
            h, w = found[line.number]
            raise EditsFileError(
                f"{where}: image {line.image} is {h}x{w} (HxW), {whose} is "
                f"{expected[0]}x{expected[1]} (give the edit at the source's size, or its "
                "'height' and 'width' when it was made at another)"
            )
    return found


def check_settings(path: Path, lines: list[EditLine], metrics: list[str]) -> None:
    """Each setting is one column of the cells table: not named like a metric's column
    (it would be lost under the scores), and of one type (strings, numbers or true/false;
    a column mixing them has no order and no typed table)."""
    first: dict[str, tuple[str, int]] = {}  # setting -> (its kind, first line giving it)
    for line in lines:
        where = f"{path} line {line.number}"
        for name, value in line.settings:
            if name in metrics:
                raise EditsFileError(
                    f"{where}: setting {name!r} has the name of a metric the protocol "
                    "scores (rename the field)"
                )
            if value is None:
                continue
            kind = _kind(value)
            seen, number = first.setdefault(name, (kind, line.number))
            if kind != seen:
                raise EditsFileError(
                    f"{where}: setting {name!r} is a {kind} here and a {seen} on line "
                    f"{number} (give a setting's values one type, e.g. all strings)"
                )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return "string" if isinstance(value, str) else "number"
