"""Protocol files: what to fine-tune, how to edit, which grid to sweep, what to score.

A protocol is YAML validated by strict pydantic models (unknown fields are errors
that suggest the closest valid name), may ``include:`` another protocol for shared
defaults, and expands into cells: one (item, prompt, fine-tune, edit settings) each.
Nothing here imports torch, so ``sine-bench schema`` and validation stay cheap.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)


class ProtocolError(ValueError):
    """A protocol or dataset manifest is invalid; the message is one line naming the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


RESOLUTION_WORDS = ("native", "source-aspect")
_HXW = re.compile(r"^(\d+)x(\d+)$")


def check_resolution_label(value: str) -> str:
    """'native', 'source-aspect' or 'HxW' (positive integers)."""
    if value in RESOLUTION_WORDS or _HXW.match(value):
        return value
    raise ValueError(f"resolution must be 'HxW', 'native' or 'source-aspect', got {value!r}")


class ModelSpec(_Strict):
    """The base model: 'toy', 'tiny-random', a local diffusers dir or a hub id."""

    name: str = "toy"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    device: str = "auto"
    revision: str = "main"  # hub models only; part of the model identity
    seed: int = 0  # tiny-random only: the seed of its random weights


class DatasetItem(_Strict):
    """One source image and the prompts it is edited with."""

    id: str
    image: str  # path relative to the manifest's folder
    class_word: str
    source: str = ""  # description of the source image (a toy caption in the toy world)
    prompts: list[str] = Field(min_length=1)
    mask: str | None = None  # white = region the edit may change; metrics keep the rest
    masks: dict[str, str] = {}  # prompt -> the mask of that edit (instead of ``mask``)
    expected: dict[str, str] = {}  # prompt -> caption the edit should satisfy (oracle)

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

    path: str | None = None
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
    steps: int = Field(800, ge=0)
    lr: float = Field(1e-6, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    prompt_template: str = "a photo of a sks {class_word}"
    patch_grid: int = Field(0, ge=0)  # G in latent cells; 0 = twice the native latent side
    patch_min_frac: float = Field(0.1, gt=0, le=1)
    x0_l1_weight: float = Field(0.0, ge=0)
    # None: trained for sine-full / sine-patch (the paper), frozen for the LoRA methods
    train_text_encoder: bool | None = None
    lora_rank: int = Field(8, ge=1)
    lora_alpha: float | None = Field(None, gt=0)  # None = rank (adapter scale 1)
    gradient_checkpointing: bool = False
    seed: int = 0

    @field_validator("prompt_template")
    @classmethod
    def _has_class_word(cls, value: str) -> str:
        if "{class_word}" not in value:
            raise ValueError("prompt_template must contain '{class_word}'")
        return value


class EditSpec(_Strict):
    """Stage 2 settings; v, K, resolution and seed are usually swept by the grid."""

    scheduler: Literal["ddim"] = "ddim"
    steps: int = Field(100, ge=1, le=1000)
    guidance: float = Field(7.5, ge=0)
    eta: float = Field(0.0, ge=0, le=1)
    v: float = Field(0.7, ge=0, le=1)
    K: int = Field(400, ge=0, le=1000)
    resolution: str = "native"
    seed: int = 0
    # Grid rows per UNet call. 1 reproduces edit-by-edit sampling bit for bit; larger
    # batches are faster on a GPU and equal to it within float tolerance.
    batch_size: int = Field(1, ge=1, le=1024)

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: str) -> str:
        return check_resolution_label(value)


class GridSpec(_Strict):
    """Lists to sweep; ``edit`` / ``finetune`` sweep any other field of those sections."""

    v: list[float] | None = None
    K: list[int] | None = None
    resolution: list[str] | None = None
    seeds: list[int] | None = None
    edit: dict[str, list[Any]] = {}
    finetune: dict[str, list[Any]] = {}

    @field_validator("v", "K", "resolution", "seeds")
    @classmethod
    def _unique(cls, values):
        if values is not None and len(set(values)) != len(values):
            raise ValueError("lists a value twice")
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
        return [check_resolution_label(v) for v in values or []] or None

    @field_validator("edit")
    @classmethod
    def _edit_fields(cls, values):
        return _check_overrides(values, EditSpec, "grid.edit")

    @field_validator("finetune")
    @classmethod
    def _finetune_fields(cls, values):
        return _check_overrides(values, FinetuneSpec, "grid.finetune")


def _check_overrides(values: dict, spec: type[BaseModel], where: str) -> dict:
    for name, options in values.items():
        if name not in spec.model_fields:
            raise ValueError(f"{where}: unknown field {name!r}{_suggest(name, spec.model_fields)}")
        if not options:
            raise ValueError(f"{where}.{name}: needs at least one value")
        for option in options:
            spec(**{name: option})  # validates type and range
    return values


class ScoringSpec(_Strict):
    """How edits are compared with their source (paper: 512x512 bicubic)."""

    size: str = "source"  # 'source' (the source's own size) or 'HxW'
    resample: Literal["bicubic", "bilinear", "lanczos", "nearest"] = "bicubic"

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        if value != "source" and not _HXW.match(value):
            raise ValueError(f"scoring size must be 'source' or 'HxW', got {value!r}")
        return value


class Tolerance(_Strict):
    """A metric drifts when |run - baseline| > abs + rel * |baseline|."""

    abs: float = Field(0.0, ge=0)
    rel: float = Field(0.0, ge=0)


class RegressionSpec(_Strict):
    baseline: str | None = None
    default: Tolerance = Tolerance(abs=1e-3, rel=1e-2)
    tolerances: dict[str, Tolerance] = {}


class MethodSpec(_Strict):
    """One editing method of ``methods``: fixed knob values, overrides of the edit (and,
    on SINE's fine-tune, finetune) section for it alone, and lists to sweep (its knobs,
    edit fields, ``finetune.<field>``). Checked against the method (``method_grid``)."""

    knobs: dict[str, Any] = {}
    edit: dict[str, Any] = {}
    finetune: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}


class Protocol(_Strict):
    """A whole protocol file (after ``include:`` merging)."""

    name: str
    model: ModelSpec = ModelSpec()
    dataset: DatasetSpec
    finetune: FinetuneSpec = FinetuneSpec()
    edit: EditSpec = EditSpec()
    grid: GridSpec = GridSpec()
    # None: SINE alone, exactly as before methods existed (same keys, same tables)
    methods: dict[str, MethodSpec] | None = None
    metrics: list[str] = []
    scoring: ScoringSpec = ScoringSpec()
    output: str = "runs/{name}"
    store: str = "runs/.store"
    regression: RegressionSpec = RegressionSpec()

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_shorthand(cls, value):
        return {"path": value} if isinstance(value, str) else value

    @field_validator("methods", mode="before")
    @classmethod
    def _methods_shorthand(cls, value):
        """``[sine, sdedit]`` or ``{sdedit: }`` mean those methods at their defaults."""
        if isinstance(value, list):
            value = {name: {} for name in value}
        if isinstance(value, dict):
            value = {name: spec if spec is not None else {} for name, spec in value.items()}
        return value

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value):
        from .method_grid import check_methods  # light: no torch

        return value if value is None else check_methods(value)

    @model_validator(mode="after")
    def _sweeps_fit_methods(self) -> Protocol:
        if self.methods is not None:
            from .method_grid import check_protocol_methods

            check_protocol_methods(self)
        return self

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


# --------------------------------------------------------------------------- loading


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class at a location in the Protocol (None past a leaf)."""
    current: Any = Protocol
    keyed = False  # the previous field is a mapping: this part is one of its keys
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        keyed = _is_mapping(field.annotation)
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _is_mapping(annotation) -> bool:
    """A ``dict[...]`` field (maybe optional), e.g. ``methods``: its keys are names."""
    options = (annotation, *typing.get_args(annotation))
    return any(typing.get_origin(a) is dict for a in options)


def _inner_model(annotation) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    # pydantic puts union-branch tags ('list[DatasetItem]') and validator kinds in the
    # location; a person wants the field path only
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
    loc = tuple(p for p in loc if p not in ("function-after", "function-before"))
    where = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        options = list(parent.model_fields) if parent else []
        options += ["include"] if parent is Protocol else []
        hint = _suggest(loc[-1], options) if options else ""
        return f"{source}: unknown field {where!r}{hint}"
    message = first["msg"].removeprefix("Value error, ")
    return f"{source}: {message}" if not loc else f"{source}: {where}: {message}"


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ProtocolError(f"protocol file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ProtocolError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: a protocol must be a mapping of fields")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` wins; nested mappings merge, lists and scalars replace."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """The protocol as a dict with every ``include:`` merged in (includes first)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ProtocolError(f"{path}: include cycle")
    data = _read_yaml(path)
    includes = data.pop("include", [])
    includes = [includes] if isinstance(includes, str) else includes
    merged: dict = {}
    for inc in includes:
        merged = deep_merge(merged, load_raw(path.parent / inc, (*_seen, path)))
    return deep_merge(merged, data)


def parse_protocol(data: dict, source: str = "protocol") -> Protocol:
    try:
        return Protocol.model_validate(data)
    except ValidationError as err:
        raise ProtocolError(_format_error(err, source)) from None


def load_protocol(path: str | Path) -> Protocol:
    """Read, merge includes, and validate a protocol file."""
    return parse_protocol(load_raw(path), str(path))


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class ResolvedItem:
    """A dataset item with absolute paths."""

    spec: DatasetItem
    image_path: Path
    mask_path: Path | None
    prompt_masks: dict[str, Path] = dataclasses.field(default_factory=dict)

    def mask_for(self, prompt: str) -> Path | None:
        """The mask of one edit: its own if the item gives one, else the item's."""
        return self.prompt_masks.get(prompt, self.mask_path)


def resolve_dataset(protocol: Protocol, root: Path = Path(".")) -> list[ResolvedItem]:
    """Items with absolute paths; reads manifest.yaml. Checks files exist (not contents)."""
    spec = protocol.dataset
    if spec.items is not None:
        items, base, source = spec.items, root, "protocol dataset.items"
    else:
        folder = Path(spec.path)
        if not folder.is_dir() and (root / "datasets" / spec.path).is_dir():
            folder = root / "datasets" / spec.path
        manifest = folder / "manifest.yaml"
        if not manifest.is_file():
            raise ProtocolError(f"dataset {spec.path!r}: no manifest.yaml at {manifest}")
        raw = yaml.safe_load(manifest.read_text()) or {}
        if not isinstance(raw, dict) or set(raw) - {"items", "description"}:
            extra = sorted(set(raw) - {"items", "description"}) if isinstance(raw, dict) else []
            raise ProtocolError(f"{manifest}: expected 'items' (and 'description'), got {extra}")
        try:
            items = TypeAdapter(list[DatasetItem]).validate_python(raw.get("items") or [])
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                hint = _suggest(first["loc"][-1], DatasetItem.model_fields)
                raise ProtocolError(f"{manifest}: unknown field 'items.{where}'{hint}") from None
            message = first["msg"].removeprefix("Value error, ")
            raise ProtocolError(f"{manifest}: items.{where}: {message}") from None
        base, source = folder, str(manifest)
    if not items:
        raise ProtocolError(f"{source}: the dataset has no items")
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ProtocolError(f"{source}: duplicate item ids")
    resolved = []
    for item in items:
        image = (base / item.image).resolve()
        if not image.is_file():
            raise ProtocolError(f"{source}: item {item.id!r}: image file not found: {image}")
        mask = (base / item.mask).resolve() if item.mask else None
        prompt_masks = {p: (base / m).resolve() for p, m in item.masks.items()}
        for path in [mask, *prompt_masks.values()]:
            if path is not None and not path.is_file():
                raise ProtocolError(f"{source}: item {item.id!r}: mask file not found: {path}")
        resolved.append(ResolvedItem(item, image, mask, prompt_masks))
    return resolved


# --------------------------------------------------------------------------- cells


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


def resolve_size(label: str, native: int, factor: int, source_hw: tuple[int, int]) -> tuple:
    """Pixel (H, W) for a resolution label; 'source-aspect' keeps the native area."""
    if label == "native":
        return native, native
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


def json_schema() -> dict:
    return Protocol.model_json_schema()
