"""Reading the YAML files a user writes (protocols, dataset manifests), strictly.

PyYAML keeps the last of two equal keys without a word, so a protocol that sets
``steps:`` twice silently runs with the second; here a repeated key is an error
naming its line. Bytes that are not UTF-8 text, and text that cannot be written out
again (lone surrogates from ``\\ud800`` escapes), are errors too: every value read
here ends up in a key, a table or a report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # a protocol or manifest is a few kB; refuse to parse megabytes


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (merge keys ``<<`` aside)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not key_node:
                line = first.start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice (first on line {line}; keep one)",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line from a PyYAML error: what and where."""
    problem = getattr(err, "problem", None)
    mark = getattr(err, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def unencodable_text(data: Any, where: str = "") -> str | None:
    """The location of the first string in ``data`` that is not valid Unicode, else None."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return where or "(top level)"
        return None
    if isinstance(data, dict):
        for key, value in data.items():
            name = str(key) if str(key).isprintable() else repr(key)
            found = unencodable_text(key, where) or unencodable_text(value, f"{where}.{name}")
            if found:
                return found.lstrip(".")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = unencodable_text(value, f"{where}.{index}")
            if found:
                return found.lstrip(".")
    return None


def read_yaml_file(path: Path, error: type[Exception]) -> Any:
    """The parsed file; any problem is ``error`` with one line naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise error(f"{path}: {len(raw)} bytes is too big for a YAML settings file (max 1 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8 YAML") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML ({_yaml_problem(err)})") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to be a settings file") from None
    bad = unencodable_text(data)
    if bad is not None:
        raise error(f"{path}: {bad}: text is not valid Unicode (a lone surrogate escape?)")
    return data
