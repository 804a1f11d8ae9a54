"""Which pretrained weights a protocol needs and whether they are cached: the model's
checkpoint (``weights``) and its metrics' backbones (their records), checked with file
lookups only, before anything computes."""

from __future__ import annotations

from pathlib import Path

from ..metrics.registry import metric_weights
from ..weights import MissingWeightsError, Weight, fetch_command, model_weights


def protocol_weights(protocol) -> list[Weight]:
    return model_weights(protocol.model.name, protocol.model.revision) + metric_weights(
        protocol.metrics
    )


def check_weights(protocol, protocol_path: str | Path | None = None) -> list[Weight]:
    """Raise :class:`MissingWeightsError` naming every required weight that is not
    cached; returns the optional ones that are missing (for a note)."""
    missing = [w for w in protocol_weights(protocol) if w.cached_path() is None]
    required = [w for w in missing if w.required]
    if required:
        models = [w.name for w in required if w.kind == "hub-pipeline"]
        metrics = tuple(w.needed_by for w in required if w.kind != "hub-pipeline")
        command = fetch_command(protocol_path, model=models[0] if models else None, metrics=metrics)
        raise MissingWeightsError(required, command)
    return missing


def optional_weight_note(weight: Weight, protocol_path: str | Path | None) -> str:
    return (
        f"note: {weight.label} not cached: {weight.needed_by} is scored with the shipped "
        f"shift-tolerant network (st_lpips); for standard LPIPS: {fetch_command(protocol_path)}"
    )
