"""Methods by name: the protocol layer's ``METHODS`` registry (which a protocol is
checked against), and what the runner asks of methods by name; import-light."""

from __future__ import annotations

from collections.abc import Sequence

from ..protocol.method_checks import METHODS
from .base import EditJob, FinetuneJob, Method


def method_names() -> list[str]:
    return METHODS.names()


def get_method(name: str) -> Method:
    """The registered method ``name``; MethodError with a suggestion otherwise."""
    return METHODS.get(name)


def register_method(name: str, target: str) -> None:
    """Add a method (``module:Class``); for plug-ins and tests."""
    METHODS.register(name, target)


def training_steps(job: FinetuneJob) -> int:
    """Forward + backward steps of one training job, as its method counts them."""
    return get_method(job.trainer).training_steps(job.settings)


def count_evaluations(jobs: Sequence[EditJob]) -> dict[str, int]:
    """UNet evaluations of jobs run together (one unit), by the methods that sample them."""
    total = {"naive": 0, "shared": 0}
    samplers = sorted({j.sampler for j in jobs})
    for sampler in samplers:
        counts = get_method(sampler).count([j for j in jobs if j.sampler == sampler])
        total = {k: total[k] + counts[k] for k in total}
    return total
