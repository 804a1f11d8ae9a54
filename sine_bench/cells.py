"""The grid's cells: a protocol's swept values expanded over its items and prompts.

Imports the protocol models only for their types, so ``protocol`` can re-export these.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dataset import ResolvedItem
    from .protocol import EditSpec, FinetuneSpec, Protocol

_HXW = re.compile(r"^(\d+)x(\d+)$")
# A plan keeps every cell and job in memory (about 4 KB and a millisecond each), so a
# grid past this size plans only when asked (``--large-grid``): a typo in a sweep should
# not cost minutes and gigabytes before its size is shown.
MAX_CELLS = 100_000


@dataclass(frozen=True)
class Cell:
    """One edit to make and score: an item, a prompt and fully resolved settings."""

    item: str
    prompt_index: int
    prompt: str
    finetune: FinetuneSpec
    edit: EditSpec
    height: int
    width: int
    axes: tuple[tuple[str, Any], ...]  # grid axis -> value, for tables and plots
    method: str = "sine"
    knobs: tuple[tuple[str, Any], ...] = ()  # the method's own knob values (not v, K)

    @property
    def axis_dict(self) -> dict[str, Any]:
        return dict(self.axes)


def axis_labels(protocol: Protocol) -> list[str]:
    """The cells table's axis columns (with ``methods``: 'method' and every method's)."""
    if protocol.methods is not None:
        from .method_grid import axis_labels as method_axis_labels

        return method_axis_labels(protocol)
    return [label for label, *_ in grid_axes(protocol)]


def grid_axes(protocol: Protocol) -> list[tuple[str, str, str, list[Any]]]:
    """(axis label, section, field, values) for every swept field of a SINE-only
    protocol (no ``methods``), in a fixed order."""
    grid = protocol.grid
    axes = []
    for label, field, values in (
        ("v", "v", grid.v),
        ("K", "K", grid.K),
        ("resolution", "resolution", grid.resolution),
        ("seed", "seed", grid.seeds),
    ):
        axes.append((label, "edit", field, values or [getattr(protocol.edit, field)]))
    for field, values in grid.edit.items():
        axes.append((field, "edit", field, values))
    for field, values in grid.finetune.items():
        axes.append((f"finetune.{field}", "finetune", field, values))
    return axes


def grid_size(protocol: Protocol, prompts: int) -> tuple[int, str]:
    """The number of cells ``expand_cells`` makes for ``prompts`` item prompts, and how it
    factors; arithmetic on the lists, so a grid of any size is measured in microseconds."""
    if protocol.methods is not None:
        from .method_grid import method_axes

        parts = []
        for name in protocol.methods:
            axes = method_axes(protocol, name)[3]
            combos = math.prod(len(axis.values) for axis in axes)
            parts.append((name, combos, [(a.label, len(a.values)) for a in axes]))
        total = sum(combos for _, combos, _ in parts) * prompts
        shown = " + ".join(
            f"{name} {' x '.join(f'{label} {n}' for label, n in sizes if n > 1) or '1'}"
            for name, _, sizes in parts
        )
        return total, f"{prompts} item prompts x ({shown})"
    sizes = [(label, len(values)) for label, _, _, values in grid_axes(protocol)]
    total = math.prod(n for _, n in sizes) * prompts
    shown = " x ".join(f"{label} {n}" for label, n in sizes if n > 1)
    return total, f"{prompts} item prompts" + (f" x {shown}" if shown else "")


def check_grid_size(
    protocol: Protocol, items: Iterable[ResolvedItem], max_cells: int | None = MAX_CELLS
) -> int:
    """The grid's cell count, measured before any cell is built; past ``max_cells`` (None:
    no bound) a ProtocolError (bad input, exit 2) that states the size and the way on."""
    from .protocol_files import ProtocolError

    cells, factors = grid_size(protocol, sum(len(item.spec.prompts) for item in items))
    if max_cells is not None and cells > max_cells:
        raise ProtocolError(
            f"grid: {cells:,} cells ({factors}), up to {cells:,} edits, is more than the "
            f"{max_cells:,} a plan takes unasked (shrink a sweep, or pass --large-grid to plan "
            f"and run it: about 4 KB of memory and a millisecond of planning per cell)"
        )
    return cells


def resolve_size(label: str, native: int, factor: int, source_hw: tuple[int, int]) -> tuple:
    """Pixel (H, W) for a resolution label: 'source-aspect' keeps the native area at the
    source's aspect, 'source' is the source's own size (each side to the nearest multiple
    of the VAE factor)."""
    if label == "native":
        return native, native
    if label == "source":
        return tuple(max(factor, round(side / factor) * factor) for side in source_hw)
    if label == "source-aspect":
        h, w = source_hw
        scale = (native * native / (h * w)) ** 0.5
        return (
            max(factor, round(h * scale / factor) * factor),
            max(factor, round(w * scale / factor) * factor),
        )
    match = _HXW.match(label)
    return int(match.group(1)), int(match.group(2))


def expand_cells(
    protocol: Protocol,
    items: list[ResolvedItem],
    native: int,
    factor: int,
    source_sizes: dict[str, tuple[int, int]],
) -> list[Cell]:
    """The full grid: items x prompts x every combination of the swept values (with
    ``methods``: each method over its own, ``method_grid``)."""
    if protocol.methods is not None:
        from .method_grid import expand_method_cells

        def size_of(label: str, item: str) -> tuple[int, int]:
            return resolve_size(label, native, factor, source_sizes[item])

        return expand_method_cells(protocol, items, size_of)
    axes = grid_axes(protocol)
    cells = []
    for combo in itertools.product(*(values for _, _, _, values in axes)):
        edit_over, ft_over, labels = {}, {}, []
        for (label, section, field, _), value in zip(axes, combo, strict=True):
            (edit_over if section == "edit" else ft_over)[field] = value
            labels.append((label, value))
        edit = protocol.edit.model_copy(update=edit_over)
        finetune = protocol.finetune.model_copy(update=ft_over)
        for item in items:
            h, w = resolve_size(edit.resolution, native, factor, source_sizes[item.spec.id])
            for index, prompt in enumerate(item.spec.prompts):
                cells.append(Cell(item.spec.id, index, prompt, finetune, edit, h, w, tuple(labels)))
    return cells
