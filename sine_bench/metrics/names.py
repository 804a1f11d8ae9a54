"""The one parser of metric names and column labels: ``family[backbone]`` or ``family``.

Pure string work (no registry, no torch), shared by the metric registry, the report and
``compare``. A column label is read leniently (any text has a family: the part before
its first ``[``); a metric name in a protocol is read strictly (:func:`strict_parts`).
"""

from __future__ import annotations

import re

from ..errors import InputError


class MetricError(InputError):
    """An unknown metric name, or a metric whose backbone cannot be loaded."""


# family: a lowercase letter, then lowercase letters, digits and underscores (l1_target);
# backbone: anything but brackets
_STRICT = re.compile(r"^(?P<family>[a-z][a-z0-9_]*)(?:\[(?P<backbone>[^\]]+)\])?$")


def split_label(label: str) -> tuple[str, str | None]:
    """(family, backbone) of any column label; a label without ``[`` is all family, an
    unclosed bracket keeps what follows it (``"a[b"`` -> ("a", "b"))."""
    family, bracket, rest = label.partition("[")
    if not bracket:
        return label, None
    return family, rest[:-1] if rest.endswith("]") else rest


def family_of(label: str) -> str:
    """The family part of a column label or metric name (``st_lpips[alex]`` -> st_lpips)."""
    return split_label(label)[0]


def strict_parts(text: str) -> tuple[str, str | None] | None:
    """(family, backbone) of a well-formed metric name, None if it is not one."""
    match = _STRICT.match(text)
    return (match.group("family"), match.group("backbone")) if match else None
