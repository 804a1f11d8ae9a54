"""A protocol's ``methods`` section: checked against each method's declared knobs, and
expanded into cells, each method over its own grid.

Without ``methods`` a protocol is SINE exactly as before (``protocol.expand_cells``).
With it, every method gets the protocol's generic sweeps (resolution, seeds, and
``grid.edit`` fields other than SINE's v and K), methods on SINE's fine-tune also get
``grid.finetune``, SINE gets ``grid.v`` / ``grid.K``, and each method's own ``grid``
adds or replaces axes for that method alone. Import-light, like protocol.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .methods.base import Method, MethodError
from .methods.registry import check_knob, get_method, method_names
from .protocol import Cell, EditSpec, FinetuneSpec, Protocol, ResolvedItem
from .registry import suggest

SINE_EDIT_FIELDS = ("v", "K")  # edit fields that are SINE's knobs, not every method's


@dataclass(frozen=True)
class Axis:
    """A swept field: its table label, where it lives ("edit", "finetune", "knob")."""

    label: str
    section: str
    field: str
    values: tuple


def _generic_edit_fields() -> list[str]:
    return [f for f in EditSpec.model_fields if f not in SINE_EDIT_FIELDS]


def _parsed(spec: type, field: str, value: Any, where: str) -> Any:
    """``value`` as the section's field parses it (so '10' for an integer sweeps 10)."""
    from pydantic import ValidationError

    try:
        return getattr(spec(**{field: value}), field)
    except ValidationError as err:
        message = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where}.{field}: {message}") from None


def _check_field(method: Method, section: str, field: str, value: Any, where: str) -> Any:
    """One value for a method (a knob, an edit field or a finetune field), parsed."""
    if section == "knobs":
        try:
            return check_knob(method, field, value)
        except MethodError as err:
            raise ValueError(f"{where}: {err}") from None
    if section == "edit":
        options = _generic_edit_fields()
        if field not in options:
            knob = " (it is a knob: give it under 'knobs')" if field in SINE_EDIT_FIELDS else ""
            raise ValueError(
                f"{where}: unknown edit field {field!r}{knob or _hint(field, options)}"
            )
        return _parsed(EditSpec, field, value, where)
    if not method.uses_sine_finetune:
        raise ValueError(f"{where}: method {method.name!r} does not use SINE's fine-tune")
    if field not in FinetuneSpec.model_fields:
        raise ValueError(
            f"{where}: unknown field {field!r}{_hint(field, FinetuneSpec.model_fields)}"
        )
    return _parsed(FinetuneSpec, field, value, where)


def _hint(name: str, options) -> str:
    return f" ({suggest(name, list(options))})"


def grid_entry(method: Method, axis: str) -> tuple[str, str]:
    """(section, field) of a name in ``methods.<m>.grid``; ValueError with a suggestion."""
    knobs = [k.name for k in method.knobs]
    if axis in knobs:
        return "knobs", axis
    if axis in _generic_edit_fields():
        return "edit", axis
    if axis.startswith("finetune.") and method.uses_sine_finetune:
        return "finetune", axis.removeprefix("finetune.")
    options = knobs + _generic_edit_fields()
    if method.uses_sine_finetune:
        options += [f"finetune.{f}" for f in FinetuneSpec.model_fields]
    raise ValueError(
        f"method {method.name!r} has no knob or edit field {axis!r} ({suggest(axis, options)})"
    )


def check_methods(methods: dict) -> dict:
    """Every method name, knob, override and grid list of a ``methods`` section, with
    the grid section's rules (a list needs a value and may not repeat one); returns the
    section with every value as its field parses it."""
    from .grid_spec import _no_repeats
    from .protocol import MethodSpec

    if not methods:
        raise ValueError(f"lists no method (choose from {', '.join(method_names())})")
    checked = {}
    for name, spec in methods.items():
        try:
            method = get_method(name)
        except MethodError as err:
            raise ValueError(str(err)) from None
        fixed = {
            section: {
                field: _check_field(method, section, field, value, f"{name}.{section}")
                for field, value in getattr(spec, section).items()
            }
            for section in ("knobs", "edit", "finetune")
        }
        grid = {}
        for axis, values in spec.grid.items():
            section, field = grid_entry(method, axis)
            if field in fixed[section]:
                raise ValueError(
                    f"{name}.grid.{axis}: also fixed as {name}.{section}.{field} "
                    "(give it once: fixed or swept)"
                )
            if not values:
                raise ValueError(
                    f"{name}.grid.{axis}: needs at least one value (give some, or drop it)"
                )
            grid[axis] = [_check_field(method, section, field, v, f"{name}.grid") for v in values]
            try:
                _no_repeats(grid[axis])
            except ValueError as err:
                raise ValueError(f"{name}.grid.{axis}: {err}") from None
        checked[name] = MethodSpec(**fixed, grid=grid)
    return checked


def check_protocol_methods(protocol: Protocol) -> None:
    """Sweeps of the protocol's own grid that no listed method can take, or that would
    silently replace a value a method fixes."""
    methods = protocol.methods or {}
    grid = protocol.grid
    top = {"v": grid.v, "K": grid.K}
    for field, values in top.items():
        if values is None:
            continue
        if "sine" not in methods:
            raise ValueError(
                f"grid.{field}: {field} is a knob of 'sine', which 'methods' does not list"
            )
        if field in methods["sine"].grid:
            raise ValueError(
                f"grid.{field}: {field} is swept twice (also methods.sine.grid.{field})"
            )
        if field in methods["sine"].knobs:
            raise ValueError(
                f"grid.{field}: sweeps what methods.sine.knobs.{field} fixes (give it once)"
            )
    users = [n for n in methods if get_method(n).uses_sine_finetune]
    if grid.finetune and not users:
        raise ValueError(
            "grid.finetune: no listed method uses SINE's fine-tune (sine, dreambooth do)"
        )
    shared = {"edit": dict(grid.edit), "finetune": dict(grid.finetune)}
    shared["edit"] |= {"resolution": grid.resolution, "seed": grid.seeds}
    for name, spec in methods.items():
        for section in ("edit", "finetune"):
            for field in getattr(spec, section):
                own = field if section == "edit" else f"finetune.{field}"
                swept = shared[section].get(field) is not None and own not in spec.grid
                if swept and (section == "edit" or get_method(name).uses_sine_finetune):
                    where = {"resolution": "grid.resolution", "seed": "grid.seeds"}.get(
                        field, f"grid.{section}.{field}"
                    )
                    raise ValueError(
                        f"{where}: sweeps what methods.{name}.{section}.{field} fixes (give "
                        f"it once, or sweep it for {name} in methods.{name}.grid)"
                    )


def method_axes(protocol: Protocol, name: str) -> tuple[EditSpec, FinetuneSpec, dict, list[Axis]]:
    """A method's base edit and finetune settings, its knob values, and its axes."""
    method, spec, grid = get_method(name), protocol.methods[name], protocol.grid
    edit_knobs = {k: v for k, v in spec.knobs.items() if method.knob(k).edit_field}
    edit = protocol.edit.model_copy(update=spec.edit | edit_knobs)
    finetune = protocol.finetune.model_copy(update=spec.finetune)
    knobs = {k.name: k.default for k in method.own_knobs()}
    knobs |= {k: v for k, v in spec.knobs.items() if k in knobs}
    axes: dict[str, Axis] = {}
    if name == "sine":
        for field in SINE_EDIT_FIELDS:
            values = getattr(grid, field) or grid.edit.get(field) or [getattr(edit, field)]
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
        return get_method(method).uses_sine_finetune
    return label in _generic_edit_fields()


def _setting(edit: EditSpec, finetune: FinetuneSpec, label: str) -> Any:
    if label.startswith("finetune."):
        return getattr(finetune, label.removeprefix("finetune."))
    return getattr(edit, label)


def axis_labels(protocol: Protocol) -> list[str]:
    """The table's axis columns: 'method', then every method's axes in first-seen order."""
    labels = ["method"]
    for name in protocol.methods:
        labels += [a.label for a in method_axes(protocol, name)[3] if a.label not in labels]
    return labels
