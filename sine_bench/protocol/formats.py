"""The dataset formats a protocol may name, in the order they are tried on a folder.

A registry of lazy ``"module:attr"`` entries, so it sits below both the sections (which
check a named format) and the readers (``dataset`` and ``sine_bench.datasets``), and
naming a format imports no reader. A new format is one entry (or an entry point).
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from .fields import ProtocolError

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
)
