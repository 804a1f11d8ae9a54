"""A protocol's sections as pure data: the model, dataset, fine-tune, edit, scoring,
regression and per-method settings, each a strict pydantic model that checks its own
fields. The grid and the root (``grid.py``, ``root.py``) are built on these.
Nothing here imports torch, so ``sine-bench schema`` and validation stay cheap.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_serializer, model_validator

from ..registry import suggest
from .fields import (
    SAFE_ID,
    PathText,
    Seed,
    StrictModel,
    Text,
    check_resolution_label,
    nonblank,
    parse_hxw,
    short,
)
from .formats import DATASET_FORMATS


class ModelSpec(StrictModel):
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
                f"must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got {short(value)}"
            )
        return value


class DatasetItem(StrictModel):
    """One source image and the prompts it is edited with."""

    id: str
    image: PathText  # path relative to the manifest's folder
    class_word: str
    source: str = ""  # description of the source image (a toy caption in the toy world)
    prompts: list[str] = Field(min_length=1)
    mask: PathText | None = None  # white = region the edit may change; metrics keep the rest
    masks: dict[str, PathText] = {}  # prompt -> the mask of that edit (instead of ``mask``)
    expected: dict[str, str] = {}  # prompt -> caption the edit should satisfy (oracle)
    edit_type: str | None = None  # the dataset's edit category (PIE-Bench "0".."9"); a column
    targets: dict[str, PathText] = {}  # prompt -> the ground-truth edit (the *_target metrics)
    # "instruction": the prompts say what to change ("make it night"), not what the edit
    # shows; a method that edits towards a caption refuses them at plan time
    prompt_kind: Literal["caption", "instruction"] = "caption"

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        # ids name files in the run directory (images/source/<id>.png)
        if not SAFE_ID.match(value):
            raise ValueError(
                f"item id {value!r} must be 1-128 letters, digits, '.', '_', '+' or '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("class_word")
    @classmethod
    def _class_word(cls, value: str) -> str:
        return nonblank(value, "class_word")

    @field_validator("prompts")
    @classmethod
    def _prompts(cls, values: list[str]) -> list[str]:
        for index, prompt in enumerate(values):
            nonblank(prompt, f"prompt {index}")
        return values

    @field_validator("expected")
    @classmethod
    def _expected(cls, values: dict[str, str]) -> dict[str, str]:
        for prompt, caption in values.items():
            nonblank(caption, f"expected caption of {prompt!r}")
        return values

    @model_validator(mode="after")
    def _prompts_unique(self) -> DatasetItem:
        if len(set(self.prompts)) != len(self.prompts):
            raise ValueError(f"item {self.id!r} lists a prompt twice")
        for field_name in ("expected", "masks", "targets"):
            if set(getattr(self, field_name)) - set(self.prompts):
                raise ValueError(f"item {self.id!r}: {field_name!r} names prompts it does not list")
        return self


def check_limit(value: object) -> int | float:
    """``dataset.limit``: a whole number of items (>= 1) or a fraction in (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number of items or a fraction in (0, 1), got {short(value)}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"must keep at least 1 item, got {value}")
        return value
    if not 0 < value < 1:  # NaN fails this too
        raise ValueError(
            f"a fraction must lie in (0, 1), got {value!r} (a number of items is an integer)"
        )
    return value


class DatasetSpec(StrictModel):
    """A dataset folder (``path``: a name under datasets/ or a dir) read by ``format``
    (default: the first format that recognises it), or inline ``items``; ``types``
    keeps the items of those edit types only (PIE-Bench's "0".."9"); ``split`` picks
    one split of a Hugging Face datasets layout; ``limit`` keeps the first N items (an
    integer) or that fraction of them (a number in (0, 1), rounded up), in the dataset's
    order after ``types``: a quick look, recorded as such."""

    path: PathText | None = None
    items: list[DatasetItem] | None = None
    format: str | None = None
    types: list[str] | None = Field(None, min_length=1)
    # the split of a Hugging Face datasets layout holding several (MagicBrush: "dev")
    split: Text | None = None
    limit: int | float | None = None

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value):
        return value if value is None else check_limit(value)

    @field_validator("types", mode="before")
    @classmethod
    def _types_as_text(cls, values):
        # PIE-Bench writes its ids as text ("1"); a protocol may write them as numbers
        if isinstance(values, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
        return values

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in DATASET_FORMATS:
            hint = suggest(value, DATASET_FORMATS.names())
            raise ValueError(f"unknown dataset format {value!r} ({hint})")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.items is None):
            raise ValueError("give exactly one of 'path' (a dataset folder) or 'items'")
        for field_name in ("format", "split"):
            if self.items is not None and getattr(self, field_name) is not None:
                raise ValueError(f"{field_name!r} reads a folder: give 'path' with it, not 'items'")
        return self


class FinetuneSpec(StrictModel):
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
    # how the G x G position-encoding table is resized to a crop box or canvas; always in
    # the patch fine-tune's key (PatchSettings), so the default keeps every old key
    patch_interpolation: Literal["bilinear", "nearest"] = "bilinear"
    x0_l1_weight: float = Field(0.0, ge=0)
    # None: trained for sine-full / sine-patch (the paper), frozen for the LoRA methods
    train_text_encoder: bool | None = None
    lora_rank: int = Field(8, ge=1, le=4096)
    lora_alpha: float | None = Field(None, gt=0)  # None = rank (adapter scale 1)
    gradient_checkpointing: bool = False  # the UNet's and a trained text encoder's
    # memory levers of a full fine-tune (docs/performance.md, "Memory levers"); each one
    # enters the fine-tune key only when set
    optimizer: Literal["adamw", "adamw-8bit"] = "adamw"  # adamw-8bit: bitsandbytes
    step_in_backward: bool = False  # per-parameter AdamW steps inside backward
    offload_pretrained: bool = False  # pretrained UNet / text encoder in host memory
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
                f"prompt_template {short(value)} may only use the placeholder {{class_word}} "
                f"({err!r}; write other braces as '{{{{' and '}}}}')"
            ) from None
        return value


class EditSpec(StrictModel):
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
    # Fine-tunes (source images) whose edits share a UNet call: the pretrained model's
    # rows always, a LoRA variant's fine-tuned rows too (an adapter per row). 1 is
    # per-image sampling; more is equal to it within float tolerance and holds that
    # many fine-tunes in memory (full fine-tunes: a UNet each).
    images_per_call: int = Field(1, ge=1, le=256)

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: str) -> str:
        return check_resolution_label(value)


class ScoringSpec(StrictModel):
    """How edits are compared with their source (paper: 512x512 bicubic)."""

    size: str = "source"  # 'source' (the source's own size) or 'HxW'
    resample: Literal["bicubic", "bilinear", "lanczos", "nearest"] = "bicubic"

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        if value != "source" and parse_hxw(value) is None:
            raise ValueError(
                f"scoring size must be 'source' or 'HxW' (positive sides), got {short(value)}"
            )
        return value


class Tolerance(StrictModel):
    """A metric drifts when |run - baseline| > abs + rel * |baseline|."""

    abs: float = Field(0.0, ge=0)
    rel: float = Field(0.0, ge=0)


class RegressionSpec(StrictModel):
    baseline: PathText | None = None
    default: Tolerance = Tolerance(abs=1e-3, rel=1e-2)
    tolerances: dict[str, Tolerance] = {}


# module:Class of a plug-in a protocol names: dotted identifiers, then one identifier
CLASS_TARGET = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


class MethodSpec(StrictModel):
    """One editing method of ``methods``: fixed knob values, overrides of the edit (and,
    on SINE's fine-tune, finetune) section for it alone, and lists to sweep (its knobs,
    edit fields, ``finetune.<field>``). Checked against the method (``method_checks``),
    which stores every value as the field parses it. ``class`` names a plug-in's class
    (``module:Class``: a Method subclass or a black-box editor) under this name."""

    class_: str | None = Field(None, alias="class")
    knobs: dict[str, Any] = {}
    edit: dict[str, Any] = {}
    finetune: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}

    @field_validator("class_")
    @classmethod
    def _class_target(cls, value: str | None) -> str | None:
        if value is not None and not CLASS_TARGET.fullmatch(value):
            raise ValueError(f"class {short(value)} is not of the form module:Class")
        return value

    @model_serializer(mode="wrap")
    def _dump(self, handler) -> dict:
        """As written: ``class`` under its own name, and only where it is given."""
        out = handler(self)
        named = out.pop("class_", None)
        return {"class": named, **out} if named is not None else out
