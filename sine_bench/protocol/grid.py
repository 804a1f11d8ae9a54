"""The ``grid`` section: the lists a protocol sweeps, with no silent cases.

Every list needs a value and may not repeat one; an axis is given once (``grid.v`` or
``grid.edit.v``, the same axis); ``grid.edit`` / ``grid.finetune`` sweep any other field
of those sections, each value checked by that section's own rules.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError, field_validator, model_validator

from ..registry import suggest
from .fields import Seed, StrictModel, check_resolution_label, no_repeats
from .sections import EditSpec, FinetuneSpec

# grid lists with their own name, and the edit field each sweeps
OWN_AXES = {"v": "v", "K": "K", "resolution": "resolution", "seeds": "seed"}


class GridSpec(StrictModel):
    """Lists to sweep; ``edit`` / ``finetune`` sweep any other field of those sections.

    No silent cases: every list needs a value and may not repeat one, and an axis is
    given once (``grid.v`` or ``grid.edit.v``, which is the same axis, not both)."""

    v: list[float] | None = None
    K: list[int] | None = None
    resolution: list[str] | None = None
    seeds: list[Seed] | None = None
    edit: dict[str, list[Any]] = {}
    finetune: dict[str, list[Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _one_name_per_axis(cls, data: Any) -> Any:
        """``grid.edit.v`` means ``grid.v``: moved there, unless both are given."""
        edit = data.get("edit") if isinstance(data, dict) else None
        if not isinstance(edit, dict):
            return data
        moved = {}
        for own, field in OWN_AXES.items():
            if field in edit:
                if data.get(own) is not None:
                    raise ValueError(
                        f"grid.{own} and grid.edit.{field} are the same axis; give it once "
                        f"(as grid.{own})"
                    )
                moved[own] = edit[field]
        if not moved:
            return data
        rest = {k: v for k, v in edit.items() if k not in OWN_AXES.values()}
        return {**data, **moved, "edit": rest}

    @field_validator("v", "K", "resolution", "seeds")
    @classmethod
    def _listed(cls, values, info):
        if values is None:
            return values
        default = {"seeds": "edit.seed"}.get(info.field_name, f"edit.{info.field_name}")
        if not values:
            raise ValueError(
                f"needs at least one value (give some, or leave it out to use {default})"
            )
        no_repeats(values)
        return values

    @field_validator("v")
    @classmethod
    def _v_range(cls, values):
        for v in values or []:
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"v must be in [0, 1], got {v}")
        return values

    @field_validator("K")
    @classmethod
    def _k_range(cls, values):
        for k in values or []:
            if not 0 <= k <= 1000:
                raise ValueError(f"K must be in [0, 1000], got {k}")
        return values

    @field_validator("resolution")
    @classmethod
    def _resolutions(cls, values):
        return [check_resolution_label(v) for v in values] if values is not None else None

    @field_validator("edit")
    @classmethod
    def _edit_fields(cls, values):
        return _check_overrides(values, EditSpec, "grid.edit")

    @field_validator("finetune")
    @classmethod
    def _finetune_fields(cls, values):
        return _check_overrides(values, FinetuneSpec, "grid.finetune")


def _check_overrides(values: dict, spec: type[BaseModel], where: str) -> dict:
    """Each swept field exists, each value is valid for it, none repeats; returns the
    values as the spec parses them (so '10' for an integer field sweeps 10)."""
    checked = {}
    for name, options in values.items():
        if name not in spec.model_fields:
            hint = suggest(name, list(spec.model_fields))
            raise ValueError(f"{where}: unknown field {name!r} ({hint})")
        if not options:
            raise ValueError(f"{where}.{name}: needs at least one value (give some, or drop it)")
        parsed = []
        for option in options:
            try:
                parsed.append(getattr(spec(**{name: option}), name))
            except ValidationError as err:
                message = err.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"{where}.{name}: {option!r}: {message}") from None
        try:
            no_repeats(parsed)
        except ValueError as err:
            raise ValueError(f"{where}.{name}: {err}") from None
        checked[name] = parsed
    return checked
