"""Protocol files: what to fine-tune, how to edit, which grid to sweep, what to score.

A protocol is YAML validated by strict pydantic models (unknown fields are errors
that suggest the closest valid name), may ``include:`` another protocol for shared
defaults, and expands into cells: one (item, prompt, fine-tune, edit settings) each.
Nothing here imports torch, so ``sine-bench schema`` and validation stay cheap.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .protocol_files import (
    ProtocolError,
    _short,
    _suggest,
    deep_merge,
    load_protocol,
    load_raw,
    parse_protocol,
)


class _Strict(BaseModel):
    # inf and nan are never a setting: they would only overflow deep in a sampler
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


RESOLUTION_WORDS = ("native", "source-aspect")
_HXW = re.compile(r"^(\d{1,6})x(\d{1,6})$")
MAX_SEED = 2**63 - 1  # torch generators take 64 bits; negative seeds alias large ones
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Text = Annotated[str, Field(min_length=1)]


def _path_text(value: str) -> str:
    """A path the OS can take: no NUL byte, at most 4096 characters, parts of 255 bytes."""
    if "\x00" in value:
        raise ValueError(f"path {_short(value)} contains a NUL character")
    if len(value) > 4096 or any(len(part.encode()) > 255 for part in value.split("/")):
        raise ValueError(f"path {_short(value)} is longer than a file system allows")
    return value


PathText = Annotated[str, Field(min_length=1), AfterValidator(_path_text)]
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def check_resolution_label(value: str) -> str:
    """'native', 'source-aspect' or 'HxW' (positive integers)."""
    match = _HXW.match(value)
    if value in RESOLUTION_WORDS or (match and int(match.group(1)) and int(match.group(2))):
        return value
    raise ValueError(
        f"resolution must be 'HxW' (positive sides), 'native' or 'source-aspect', got {value!r}"
    )


def _nonblank(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} is empty or only whitespace")
    return value


class ModelSpec(_Strict):
    """The base model: 'toy', 'tiny-random', a local diffusers dir or a hub id."""

    name: PathText = "toy"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    device: str = "auto"
    revision: Text = "main"  # hub models only; part of the model identity
    seed: Seed = 0  # tiny-random only: the seed of its random weights

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.match(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$", value):
            raise ValueError(
                f"must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got {_short(value)}"
            )
        return value


class DatasetItem(_Strict):
    """One source image and the prompts it is edited with."""

    id: str
    image: PathText  # path relative to the manifest's folder
    class_word: str
    source: str = ""  # description of the source image (a toy caption in the toy world)
    prompts: list[str] = Field(min_length=1)
    mask: PathText | None = None  # white = region the edit may change; metrics keep the rest
    masks: dict[str, PathText] = {}  # prompt -> the mask of that edit (instead of ``mask``)
    expected: dict[str, str] = {}  # prompt -> caption the edit should satisfy (oracle)

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        # ids name files in the run directory (images/source/<id>.png)
        if not _SAFE_ID.match(value):
            raise ValueError(
                f"item id {value!r} must be 1-128 letters, digits, '.', '_', '+' or '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("class_word")
    @classmethod
    def _class_word(cls, value: str) -> str:
        return _nonblank(value, "class_word")

    @field_validator("prompts")
    @classmethod
    def _prompts(cls, values: list[str]) -> list[str]:
        for index, prompt in enumerate(values):
            _nonblank(prompt, f"prompt {index}")
        return values

    @field_validator("expected")
    @classmethod
    def _expected(cls, values: dict[str, str]) -> dict[str, str]:
        for prompt, caption in values.items():
            _nonblank(caption, f"expected caption of {prompt!r}")
        return values

    @model_validator(mode="after")
    def _prompts_unique(self) -> DatasetItem:
        if len(set(self.prompts)) != len(self.prompts):
            raise ValueError(f"item {self.id!r} lists a prompt twice")
        for field_name in ("expected", "masks"):
            if set(getattr(self, field_name)) - set(self.prompts):
                raise ValueError(f"item {self.id!r}: {field_name!r} names prompts it does not list")
        return self


class DatasetSpec(_Strict):
    """A folder with manifest.yaml (``path``: a name under datasets/ or a dir), or items."""

    path: PathText | None = None
    items: list[DatasetItem] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.items is None):
            raise ValueError("give exactly one of 'path' (a dataset folder) or 'items'")
        return self


class FinetuneSpec(_Strict):
    """Stage 1 settings (defaults: the paper's, SD scale)."""

    # sine-lora: a LoRA adapter instead of a UNet copy; sine-lora-patch: the same trained
    # on patches with the position encoding (SINE's patch fine-tune at adapter cost)
    method: Literal["sine-patch", "sine-full", "sine-lora", "sine-lora-patch"] = "sine-patch"
    steps: int = Field(800, ge=0, le=10_000_000)
    lr: float = Field(1e-6, gt=0, le=1)  # AdamW: an lr of 1 already wrecks any network
    weight_decay: float = Field(0.01, ge=0)
    prompt_template: str = "a photo of a sks {class_word}"
    patch_grid: int = Field(0, ge=0, le=4096)  # G in latent cells; 0 = 2x native latent side
    patch_min_frac: float = Field(0.1, gt=0, le=1)
    x0_l1_weight: float = Field(0.0, ge=0)
    # None: trained for sine-full / sine-patch (the paper), frozen for the LoRA methods
    train_text_encoder: bool | None = None
    lora_rank: int = Field(8, ge=1, le=4096)
    lora_alpha: float | None = Field(None, gt=0)  # None = rank (adapter scale 1)
    gradient_checkpointing: bool = False
    seed: Seed = 0

    @field_validator("prompt_template")
    @classmethod
    def _has_class_word(cls, value: str) -> str:
        if "{class_word}" not in value:
            raise ValueError("prompt_template must contain '{class_word}'")
        try:
            value.format(class_word="x")
        except (KeyError, IndexError, ValueError, AttributeError) as err:
            raise ValueError(
                f"prompt_template {_short(value)} may only use the placeholder {{class_word}} "
                f"({err!r}; write other braces as '{{{{' and '}}}}')"
            ) from None
        return value


class EditSpec(_Strict):
    """Stage 2 settings; v, K, resolution and seed are usually swept by the grid."""

    scheduler: Literal["ddim"] = "ddim"
    steps: int = Field(100, ge=1, le=1000)
    guidance: float = Field(7.5, ge=0, le=100)  # w; SD uses 7.5, beyond ~30 is saturated
    eta: float = Field(0.0, ge=0, le=1)
    v: float = Field(0.7, ge=0, le=1)
    K: int = Field(400, ge=0, le=1000)
    resolution: str = "native"
    seed: Seed = 0
    # Grid rows per UNet call. 1 reproduces edit-by-edit sampling bit for bit; larger
    # batches are faster on a GPU and equal to it within float tolerance.
    batch_size: int = Field(1, ge=1, le=1024)

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: str) -> str:
        return check_resolution_label(value)


# grid lists with their own name, and the edit field each sweeps
OWN_AXES = {"v": "v", "K": "K", "resolution": "resolution", "seeds": "seed"}


class GridSpec(_Strict):
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
        _no_repeats(values)
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


def _no_repeats(values: list) -> None:
    seen: list = []
    for value in values:
        if value in seen:
            raise ValueError(f"lists the value {_short(value)} twice (remove the repeat)")
        seen.append(value)


def _check_overrides(values: dict, spec: type[BaseModel], where: str) -> dict:
    """Each swept field exists, each value is valid for it, none repeats; returns the
    values as the spec parses them (so '10' for an integer field sweeps 10)."""
    checked = {}
    for name, options in values.items():
        if name not in spec.model_fields:
            raise ValueError(f"{where}: unknown field {name!r}{_suggest(name, spec.model_fields)}")
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
            _no_repeats(parsed)
        except ValueError as err:
            raise ValueError(f"{where}.{name}: {err}") from None
        checked[name] = parsed
    return checked


class ScoringSpec(_Strict):
    """How edits are compared with their source (paper: 512x512 bicubic)."""

    size: str = "source"  # 'source' (the source's own size) or 'HxW'
    resample: Literal["bicubic", "bilinear", "lanczos", "nearest"] = "bicubic"

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        match = _HXW.match(value)
        if value != "source" and not (match and int(match.group(1)) and int(match.group(2))):
            raise ValueError(
                f"scoring size must be 'source' or 'HxW' (positive sides), got {_short(value)}"
            )
        return value


class Tolerance(_Strict):
    """A metric drifts when |run - baseline| > abs + rel * |baseline|."""

    abs: float = Field(0.0, ge=0)
    rel: float = Field(0.0, ge=0)


class RegressionSpec(_Strict):
    baseline: PathText | None = None
    default: Tolerance = Tolerance(abs=1e-3, rel=1e-2)
    tolerances: dict[str, Tolerance] = {}


class Protocol(_Strict):
    """A whole protocol file (after ``include:`` merging)."""

    name: Text
    model: ModelSpec = ModelSpec()
    dataset: DatasetSpec
    finetune: FinetuneSpec = FinetuneSpec()
    edit: EditSpec = EditSpec()
    grid: GridSpec = GridSpec()
    metrics: list[str] = []
    scoring: ScoringSpec = ScoringSpec()
    output: PathText = "runs/{name}"
    store: PathText = "runs/.store"
    regression: RegressionSpec = RegressionSpec()

    @field_validator("output")
    @classmethod
    def _output_template(cls, value: str) -> str:
        try:
            value.format(name="x")
        except (KeyError, IndexError, ValueError, AttributeError) as err:
            raise ValueError(
                f"output {_short(value)} may only use the placeholder {{name}} ({err!r})"
            ) from None
        return value

    @model_validator(mode="after")
    def _output_path(self) -> Protocol:
        try:
            _path_text(self.output.format(name=self.name))
        except ValueError as err:
            raise ValueError(f"output (with name {_short(self.name)} filled in): {err}") from None
        return self

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_shorthand(cls, value):
        return {"path": value} if isinstance(value, str) else value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, values: list[str]) -> list[str]:
        from .metrics.registry import check_metric_name  # light: no torch

        for name in values:
            check_metric_name(name)
        if len(set(values)) != len(values):
            raise ValueError("metrics lists a name twice")
        return values

    @property
    def output_dir(self) -> Path:
        return Path(self.output.format(name=self.name))


def json_schema() -> dict:
    return Protocol.model_json_schema()


# re-exported: defined in their own modules, imported from here by most callers
from .cells import Cell, expand_cells, grid_axes, resolve_size  # noqa: E402
from .dataset import ResolvedItem, resolve_dataset  # noqa: E402

__all__ = [
    "Cell",
    "Protocol",
    "ProtocolError",
    "ResolvedItem",
    "expand_cells",
    "deep_merge",
    "grid_axes",
    "load_protocol",
    "load_raw",
    "parse_protocol",
    "resolve_dataset",
    "resolve_size",
]
