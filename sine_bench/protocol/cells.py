"""The grid's cells: a protocol's swept values expanded over its items and prompts.

Without ``methods`` a protocol is SINE over the grid (``grid_axes``). With it, every
method gets the protocol's generic sweeps (resolution, seeds, and ``grid.edit`` fields
other than SINE's v and K), methods on SINE's fine-tune also get ``grid.finetune``,
SINE gets ``grid.v`` / ``grid.K``, and each method's own ``grid`` adds or replaces axes
for that method alone (``method_axes``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .dataset import ResolvedItem
from .fields import ProtocolError, hxw
from .method_checks import METHODS, SINE_EDIT_FIELDS, generic_edit_fields, grid_entry
from .root import Protocol
from .sections import EditSpec, FinetuneSpec

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
    return hxw(label)


def expand_cells(
    protocol: Protocol,
    items: list[ResolvedItem],
    native: int,
    factor: int,
    source_sizes: dict[str, tuple[int, int]],
) -> list[Cell]:
    """The full grid: items x prompts x every combination of the swept values (with
    ``methods``: each method over its own, ``expand_method_cells``)."""
    if protocol.methods is not None:

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


@dataclass(frozen=True)
class Axis:
    """A swept field: its table label, where it lives ("edit", "finetune", "knob")."""

    label: str
    section: str
    field: str
    values: tuple


def method_axes(protocol: Protocol, name: str) -> tuple[EditSpec, FinetuneSpec, dict, list[Axis]]:
    """A method's base edit and finetune settings, its knob values, and its axes."""
    method, spec, grid = METHODS.get(name), protocol.methods[name], protocol.grid
    edit_knobs = {k: v for k, v in spec.knobs.items() if method.knob(k).edit_field}
    edit = protocol.edit.model_copy(update=spec.edit | edit_knobs)
    finetune = protocol.finetune.model_copy(update=spec.finetune)
    knobs = {k.name: k.default for k in method.own_knobs()}
    knobs |= {k: v for k, v in spec.knobs.items() if k in knobs}
    axes: dict[str, Axis] = {}
    # knobs that are edit fields (SINE's v and K) are swept by the protocol's own grid
    for field in (k.name for k in method.knobs if k.edit_field):
        values = getattr(grid, field, None) or grid.edit.get(field) or [getattr(edit, field)]
        axes[field] = Axis(field, "edit", field, tuple(values))
    axes["resolution"] = Axis(
        "resolution", "edit", "resolution", tuple(grid.resolution or [edit.resolution])
    )
    axes["seed"] = Axis("seed", "edit", "seed", tuple(grid.seeds or [edit.seed]))
    for field, values in grid.edit.items():
        if field not in SINE_EDIT_FIELDS:
            axes[field] = Axis(field, "edit", field, tuple(values))
    if method.uses_sine_finetune:
        for field, values in grid.finetune.items():
            axes[f"finetune.{field}"] = Axis(f"finetune.{field}", "finetune", field, tuple(values))
    for entry, values in spec.grid.items():
        section, field = grid_entry(method, entry)
        if section == "knobs":
            section = "edit" if method.knob(field).edit_field else "knob"
            label = method.column(field)
        else:
            label = f"finetune.{field}" if section == "finetune" else field
        axes[label] = Axis(label, section, field, tuple(values))
    return edit, finetune, knobs, list(axes.values())


def expand_method_cells(
    protocol: Protocol, items: list[ResolvedItem], size_of: Callable[[str, str], tuple[int, int]]
) -> list[Cell]:
    """Each listed method's grid: items x prompts x its own combinations (``size_of``:
    a resolution label and item id to pixels). A cell also
    carries its value of every other method's swept edit field (a guidance swept for
    one method is still a setting of the others), and of swept finetune fields when
    its method uses SINE's fine-tune."""
    cells = []
    union = axis_labels(protocol)
    for name in protocol.methods:
        base_edit, base_finetune, base_knobs, axes = method_axes(protocol, name)
        own = {a.label for a in axes}
        shared = [label for label in union if label not in own and _shared_field(name, label)]
        for combo in itertools.product(*(axis.values for axis in axes)):
            over: dict[str, dict] = {"edit": {}, "finetune": {}, "knob": {}}
            for axis, value in zip(axes, combo, strict=True):
                over[axis.section][axis.field] = value
            edit = base_edit.model_copy(update=over["edit"])
            finetune = base_finetune.model_copy(update=over["finetune"])
            knobs = tuple(sorted((base_knobs | over["knob"]).items()))
            labels = (("method", name), *((a.label, v) for a, v in zip(axes, combo, strict=True)))
            labels += tuple((label, _setting(edit, finetune, label)) for label in shared)
            for item in items:
                size = size_of(edit.resolution, item.spec.id)
                for index, prompt in enumerate(item.spec.prompts):
                    cells.append(
                        Cell(
                            item.spec.id, index, prompt, finetune, edit, *size, labels, name, knobs
                        )
                    )
    return cells


def _shared_field(method: str, label: str) -> bool:
    if label.startswith("finetune."):
        return METHODS.get(method).uses_sine_finetune
    return label in generic_edit_fields()


def _setting(edit: EditSpec, finetune: FinetuneSpec, label: str) -> Any:
    if label.startswith("finetune."):
        return getattr(finetune, label.removeprefix("finetune."))
    return getattr(edit, label)


def method_axis_labels(protocol: Protocol) -> list[str]:
    """The table's axis columns: 'method', then every method's axes in first-seen order."""
    labels = ["method"]
    for name in protocol.methods:
        labels += [a.label for a in method_axes(protocol, name)[3] if a.label not in labels]
    return labels
