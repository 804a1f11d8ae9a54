"""What ``doctor`` and ``plan`` say about plug-ins: which were found, where from, and
(for a protocol's) the code identity its keys carry. Listing reads only metadata."""

from __future__ import annotations

from typing import Any

from ..plugins import GROUPS


def registries() -> dict[str, Any]:
    """The registries plug-ins add to, by the kind their entry-point group names."""
    from ..metrics.families import FAMILIES
    from ..protocol.formats import DATASET_FORMATS
    from ..protocol.method_checks import METHODS

    return {"method": METHODS, "metric family": FAMILIES, "dataset format": DATASET_FORMATS}


def found_lines() -> list[str]:
    """``doctor``'s lines: every installed plug-in, and any ignored for a taken name."""
    groups = ", ".join(GROUPS.values())
    lines = [f"plug-ins (entry-point groups {groups}):"]
    for kind, registry in registries().items():
        for name, origin in registry.plugins().items():
            lines.append(f"  {kind:15s} {name:18s} {origin.where()}")
        for name, origin in registry.ignored.items():
            lines.append(f"  {kind:15s} {name:18s} IGNORED: the name is taken ({origin.where()})")
    if len(lines) == 1:
        lines.append("  none installed")
    return lines


def protocol_lines(protocol: Any) -> list[str]:
    """``plan``'s lines: each plug-in the protocol uses, where from and what its keys
    carry of its code (call after validation: the plug-ins are loaded)."""
    from ..metrics.registry import check_metric_name

    reg = registries()
    used = [("method", name) for name in protocol.methods or {}]
    used += [("metric family", check_metric_name(m).family) for m in protocol.metrics]
    if protocol.dataset.format is not None:
        used.append(("dataset format", protocol.dataset.format))
    lines = []
    for kind, name in dict.fromkeys(used):
        origin = reg[kind].origin(name)
        if origin is None:
            continue
        keyed = origin.identity() if kind != "dataset format" else "nothing (its items are)"
        lines.append(f"plug-in {kind} {name!r}: {origin.where()}; keyed on {keyed}")
    return lines
