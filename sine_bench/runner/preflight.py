"""The first layer of the validation pass: what needs no heavy import (no torch, no
diffusers), so a run that cannot start says so in about a second.

``validate`` runs it first; ``sine-bench run`` runs it before importing the runner and
hands the result on, so every check still runs once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..protocol.cells import MAX_CELLS
from ..protocol.loading import load_protocol
from ..protocol.root import Protocol


@dataclass
class Preflight:
    """A loaded protocol that passed the light checks; ``notes``: optional weights that
    are not cached (a run scores with a shipped substitute)."""

    protocol: Protocol
    path: Path | None = None
    notes: list[str] = field(default_factory=list)


def preflight(
    protocol: str | Path | Protocol,
    *,
    weights: bool = True,
    max_cells: int | None = MAX_CELLS,
    limit: int | float | None = None,
) -> Preflight:
    """Load the protocol (if given a path), then check, in order: the grid's size (over
    ``max_cells`` cells, None: no bound, it is refused before any cell is built), the
    output folder is free or a previous run's, the model family is one sine-bench runs
    (before its weights: SDXL is bad input, not missing weights) and, with ``weights``,
    every pretrained weight the run needs is cached (file lookups only, never the
    network). ``limit``: ``run --limit``'s first items (``load_protocol``)."""
    from ..model_family import check_model
    from ..protocol.cells import check_grid_size
    from ..protocol.dataset import resolve_dataset
    from .ownership import check_replaceable
    from .weights_check import check_weights, optional_weight_note

    path = None if isinstance(protocol, Protocol) else Path(protocol)
    if path is not None:
        protocol = load_protocol(path, limit)
    check_grid_size(protocol, resolve_dataset(protocol), max_cells)
    check_replaceable(protocol.output_dir)
    check_model(protocol.model.name, protocol.model.revision)
    notes = []
    if weights:
        notes = [optional_weight_note(w, path) for w in check_weights(protocol, path)]
    return Preflight(protocol, path, notes)
