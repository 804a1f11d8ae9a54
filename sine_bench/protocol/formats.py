"""The dataset formats a protocol may name, in the order they are tried on a folder.

A registry of lazy ``"module:attr"`` entries, so it sits below both the sections (which
check a named format) and the readers (``dataset`` and ``sine_bench.datasets``), and
naming a format imports no reader. A new format is one entry, or an installed
package's entry point in the group ``sine_bench.datasets`` (an object or a class with
``marker``, ``recognises(folder)`` and ``read(request)``: ``dataset.DatasetFormat``).
"""

from __future__ import annotations

from typing import Any

from ..plugins import GROUPS
from ..registry import Registry
from .fields import ProtocolError


def _build_format(name: str, target: Any) -> Any:
    """A format object; a plug-in's class is instantiated, and one without the
    contract's members is an error naming it."""
    if DATASET_FORMATS.origin(name) is None:
        return target
    made = target() if isinstance(target, type) else target
    missing = [m for m in ("marker", "recognises", "read") if not hasattr(made, m)]
    if missing:
        where = DATASET_FORMATS.origin(name).where()
        raise ProtocolError(
            f"dataset format {name!r} (plug-in {where}): lacks {', '.join(missing)} "
            "(a format has marker, recognises(folder) and read(request))"
        )
    return made


DATASET_FORMATS: Registry[Any] = Registry(
    "dataset format",
    ProtocolError,
    {
        "manifest": "sine_bench.protocol.dataset:MANIFEST_FORMAT",
        "pie-bench": "sine_bench.datasets.pie_bench:FORMAT",
        "tedbench": "sine_bench.datasets.tedbench:FORMAT",
        "csv": "sine_bench.datasets.csv_folder:FORMAT",
        "magicbrush": "sine_bench.datasets.magicbrush:FORMAT",
        "gedit": "sine_bench.datasets.gedit:FORMAT",
    },
    build=_build_format,
    group=GROUPS["dataset format"],
)
