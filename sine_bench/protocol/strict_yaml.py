"""Reading the YAML files a user writes (protocols, dataset manifests), strictly.

PyYAML keeps the last of two equal keys without a word, so a protocol that sets
``steps:`` twice silently runs with the second; here a repeated key is an error
naming its line. Bytes that are not UTF-8 text, and text that cannot be written out
again (lone surrogates from ``\\ud800`` escapes), are errors too: every value read
here ends up in a key, a table or a report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # a protocol or manifest is a few kB; refuse to parse megabytes
# Aliases share one node, so a few hundred bytes can stand for billions of values
# ("billion laughs"); every reader after the parser walks the expanded data. The
# document is measured on its node graph (each node once) before anything is built.
MAX_VALUES = 100_000  # values (scalars and collections) after expanding every alias
MAX_ALIASES = 1_000  # `*name` uses in one file
MAX_DEPTH = 100  # nesting levels, aliases expanded
BOOL = "tag:yaml.org,2002:bool"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (merge keys ``<<`` aside)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if (
                key_node.tag == BOOL
                and isinstance(key_node, yaml.ScalarNode)
                and not key_node.style
            ):
                # every key read here is a name: a knob called `on`, `yes` or `no` is
                # that word, not YAML 1.1's true/false (values keep YAML's reading)
                key_node.tag = "tag:yaml.org,2002:str"
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


# YAML 1.2 (and JSON) read 1e-4 as a number; PyYAML's 1.1 resolver wants a dot in it
# (1.0e-4) and reads a string, which a float knob then refuses
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _AliasBomb(Exception):
    """The document expands beyond the bounds above (message: what and the bound)."""


def _compose(loader: _UniqueKeyLoader) -> yaml.Node | None:
    """Compose the single document, counting ``*alias`` uses; refuses more than MAX_ALIASES."""
    aliases = 0
    compose_node = loader.compose_node

    def counting(parent, index):
        nonlocal aliases
        if loader.check_event(yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _AliasBomb(f"more than {MAX_ALIASES} aliases (write the values out)")
        return compose_node(parent, index)

    loader.compose_node = counting
    return loader.get_single_node()


def _expanded_size(node: yaml.Node) -> tuple[int, int]:
    """Values and nesting levels the node stands for once every alias is expanded, each
    shared node measured once (linear in the file); refuses more than MAX_VALUES values
    or MAX_DEPTH levels and an alias inside the node it names."""
    measured: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()

    def measure(n: yaml.Node) -> tuple[int, int]:
        if id(n) in measured:
            return measured[id(n)]
        if id(n) in open_nodes:
            raise _AliasBomb("an alias refers to a node that contains it (write the values out)")
        open_nodes.add(id(n))
        children: list[yaml.Node] = []
        if isinstance(n, yaml.SequenceNode):
            children = list(n.value)
        elif isinstance(n, yaml.MappingNode):
            children = [part for pair in n.value for part in pair]
        parts = [measure(child) for child in children]
        total = 1 + sum(size for size, _ in parts)
        depth = 1 + max((levels for _, levels in parts), default=0)
        if total > MAX_VALUES:
            raise _AliasBomb(
                f"its aliases expand to more than {MAX_VALUES} values (write the values out)"
            )
        if depth > MAX_DEPTH:
            raise _AliasBomb(
                f"nested too deeply (more than {MAX_DEPTH} levels) for a settings file"
            )
        open_nodes.discard(id(n))
        measured[id(n)] = (total, depth)
        return total, depth

    return measure(node)


def _load(text: str) -> Any:
    """Parse with the strict loader, bounding alias expansion before constructing."""
    loader = _UniqueKeyLoader(text)
    try:
        node = _compose(loader)
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


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
        data = _load(text)
    except _AliasBomb as err:
        raise error(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML ({_yaml_problem(err)})") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to be a settings file") from None
    bad = unencodable_text(data)
    if bad is not None:
        raise error(f"{path}: {bad}: text is not valid Unicode (a lone surrogate escape?)")
    return data
