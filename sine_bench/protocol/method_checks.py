"""A protocol's ``methods`` section, checked against each method's declared knobs.

A protocol names methods; ``METHODS`` finds them by name. Its entries are
``"module:Class"`` strings loaded on first use, so this layer lists the methods a
protocol may name without importing them: ``methods/`` is built on the protocol (its
``Method`` plans ``Cell``s), and the arrow runs that way only. Plug-ins add entries:
installed packages under the entry-point group ``sine_bench.methods`` (discovered on
first use), a protocol by ``class: module:Class``. Import-light: a method's module
imports torch only inside its functions.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import ValidationError

from ..plugins import GROUPS, class_origin
from ..registry import Registry, suggest
from .fields import MethodError, no_repeats
from .grid import GridSpec
from .sections import EditSpec, FinetuneSpec, MethodSpec

SINE_EDIT_FIELDS = ("v", "K")  # edit fields that are SINE's knobs, not every method's


class KnobDeclaration(typing.Protocol):
    """What the protocol reads of a knob (``methods.base.Knob``)."""

    name: str
    default: float | int
    edit_field: bool

    def check(self, value: Any) -> float | int: ...


class MethodDeclaration(typing.Protocol):
    """What the protocol reads of a method (``methods.base.Method`` declares it)."""

    name: str
    knobs: tuple[KnobDeclaration, ...]
    uses_sine_finetune: bool

    def knob(self, name: str) -> KnobDeclaration: ...

    def own_knobs(self) -> tuple[KnobDeclaration, ...]: ...

    def column(self, knob: str) -> str: ...


# the methods that ship (a protocol's class may not take their names)
SHIPPED_METHODS = {
    "sine": "sine_bench.methods.sine:Sine",
    "pretrained": "sine_bench.methods.pretrained:Pretrained",
    "dreambooth": "sine_bench.methods.dreambooth:DreamBooth",
    "sdedit": "sine_bench.methods.sdedit:SDEdit",
    "ddim-inversion": "sine_bench.methods.ddim_inversion:DDIMInversion",
    "imagic": "sine_bench.methods.imagic:Imagic",
    "diffusers-pipeline": "sine_bench.methods.diffusers_pipeline:DiffusersPipelineEditor",
}
# every method by name, each class built once, on first use: instantiated, or a black-box
# editor adapted, and a plug-in checked, by ``methods.plugins`` (the layer above: named,
# not imported, as the entries are)
METHODS: Registry[MethodDeclaration] = Registry(
    "method",
    MethodError,
    dict(SHIPPED_METHODS),
    build="sine_bench.methods.plugins:plugin_method",
    group=GROUPS["method"],
)


def register_class(name: str, target: str) -> None:
    """Register the class a protocol names (``methods.<name>.class``) under ``name``;
    kept when it is already registered from the same target (its loaded copy too)."""
    if name in SHIPPED_METHODS:
        raise MethodError(
            f"method {name!r} ships with sine-bench: give the class {target!r} another name"
        )
    origin = METHODS.origin(name)
    if origin is None or origin.target != target:
        METHODS.register(name, target, class_origin(target))


def register_classes(methods: dict[str, MethodSpec] | None) -> None:
    """Register every class a checked ``methods`` section names (a worker process)."""
    for name, spec in (methods or {}).items():
        if spec.class_ is not None:
            register_class(name, spec.class_)


def check_knob(method: MethodDeclaration, name: str, value: Any) -> float | int:
    """The validated value of ``method``'s knob ``name``; MethodError with a suggestion."""
    names = [k.name for k in method.knobs]
    if name not in names:
        hint = suggest(name, names) if names else "it has no knobs"
        raise MethodError(f"method {method.name!r} has no knob {name!r} ({hint})")
    try:
        return method.knob(name).check(value)
    except ValueError as err:
        raise MethodError(f"method {method.name!r}: {err}") from None


def generic_edit_fields() -> list[str]:
    """Edit fields every method takes (SINE's v and K are its knobs)."""
    return [f for f in EditSpec.model_fields if f not in SINE_EDIT_FIELDS]


def _parsed(spec: type, field: str, value: Any, where: str) -> Any:
    """``value`` as the section's field parses it (so '10' for an integer sweeps 10)."""
    try:
        return getattr(spec(**{field: value}), field)
    except ValidationError as err:
        message = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where}.{field}: {message}") from None


def _check_field(
    method: MethodDeclaration, section: str, field: str, value: Any, where: str
) -> Any:
    """One value for a method (a knob, an edit field or a finetune field), parsed."""
    if section == "knobs":
        try:
            return check_knob(method, field, value)
        except MethodError as err:
            raise ValueError(f"{where}: {err}") from None
    if section == "edit":
        options = generic_edit_fields()
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


def grid_entry(method: MethodDeclaration, axis: str) -> tuple[str, str]:
    """(section, field) of a name in ``methods.<m>.grid``; ValueError with a suggestion."""
    knobs = [k.name for k in method.knobs]
    if axis in knobs:
        return "knobs", axis
    if axis in generic_edit_fields():
        return "edit", axis
    if axis.startswith("finetune.") and method.uses_sine_finetune:
        return "finetune", axis.removeprefix("finetune.")
    options = knobs + generic_edit_fields()
    if method.uses_sine_finetune:
        options += [f"finetune.{f}" for f in FinetuneSpec.model_fields]
    raise ValueError(
        f"method {method.name!r} has no knob or edit field {axis!r} ({suggest(axis, options)})"
    )


def check_methods(methods: dict) -> dict:
    """Every method name, knob, override and grid list of a ``methods`` section, with
    the grid section's rules (a list needs a value and may not repeat one); returns the
    section with every value as its field parses it."""
    if not methods:
        raise ValueError(f"lists no method (choose from {', '.join(METHODS.names())})")
    checked = {}
    for name, spec in methods.items():
        try:
            if spec.class_ is not None:
                register_class(name, spec.class_)
            method = METHODS.get(name)
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
                no_repeats(grid[axis])
            except ValueError as err:
                raise ValueError(f"{name}.grid.{axis}: {err}") from None
        checked[name] = MethodSpec(**{"class": spec.class_}, **fixed, grid=grid)
    return checked


def check_protocol_methods(methods: dict[str, MethodSpec], grid: GridSpec) -> None:
    """Sweeps of the protocol's own grid that no listed method can take, or that would
    silently replace a value a method fixes."""
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
    users = [n for n in methods if METHODS.get(n).uses_sine_finetune]
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
                if swept and (section == "edit" or METHODS.get(name).uses_sine_finetune):
                    where = {"resolution": "grid.resolution", "seed": "grid.seeds"}.get(
                        field, f"grid.{section}.{field}"
                    )
                    raise ValueError(
                        f"{where}: sweeps what methods.{name}.{section}.{field} fixes (give "
                        f"it once, or sweep it for {name} in methods.{name}.grid)"
                    )
