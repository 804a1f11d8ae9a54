"""Metrics: a registry of named scorers, one module per family (clip, lpips, pixel,
overfit, oracle). Names carry their backbone: ``clip_t[toy]``, ``lpips[alex]``."""

from .registry import (
    FAMILIES,
    MetricError,
    MetricName,
    check_metric_name,
    load_backbone,
    register_backbone,
)

__all__ = [
    "FAMILIES",
    "MetricError",
    "MetricName",
    "check_metric_name",
    "load_backbone",
    "register_backbone",
]
