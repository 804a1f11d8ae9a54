"""The seam between the runner and the editing methods: jobs, knobs and ``Method``.

A method declares its knobs (the values a protocol may set or sweep), what it trains
(nothing, SINE's fine-tune, or an artifact of its own under its own key), how one
cell becomes jobs, how a group of its edit jobs is computed, and how many UNet
evaluations that takes. Import-light: nothing here (or at the top of a method file)
imports torch, so protocols validate without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..protocol.cells import Cell
    from ..protocol.sections import DatasetItem
    from ..sine import DiffusionModel, EvaluationCounter


@dataclass(frozen=True)
class FinetuneJob:
    """One training job: SINE's fine-tune (``trainer`` "sine") or a method's own."""

    key: str
    item: str
    image: Path
    prompt: str
    settings: dict  # what keys the training (SINE: FinetuneSettings.to_dict())
    trainer: str = "sine"


@dataclass(frozen=True)
class EditJob:
    """One edit to compute. ``sampler`` names the method whose code computes it: "sine"
    for SINE's cells and every job of SINE's grid sampler (pretrained-only references,
    the ``pretrained`` method, memorized samples)."""

    key: str
    kind: str  # "cell", "reference" (pretrained only) or "memorized" (v = 0, K = 0)
    finetune: str | None  # the training key it uses (None: the base model alone)
    prompt: str  # the prompt the sampler sees (dreambooth: rewritten)
    settings: dict
    sampler: str = "sine"
    item: str | None = None  # the source image's item, for methods that read it
    image: Path | None = None


@dataclass(frozen=True)
class Knob:
    """A method setting a protocol may fix or sweep. ``edit_field`` knobs live in the
    protocol's ``edit`` section (SINE's v and K); the others are the method's own and
    are labelled ``<method>.<name>`` in tables."""

    name: str
    kind: type  # int or float (a black-box editor's knobs: also bool or str)
    default: float | int | bool | str
    lo: float | None = None
    hi: float | None = None
    help: str = ""
    edit_field: bool = False

    def check(self, value: Any) -> float | int | bool | str:
        """The value as the knob's type; ValueError naming the knob when out of range."""
        if self.kind in (bool, str):  # exactly that type: no 0/1 for a bool, no 5 for a str
            if type(value) is not self.kind:
                raise ValueError(f"knob {self.name!r} takes a {self.kind.__name__}, got {value!r}")
            return value
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or (self.kind is int and float(value) != int(value)):
            raise ValueError(f"knob {self.name!r} takes a {self.kind.__name__}, got {value!r}")
        value = self.kind(value)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError(f"knob {self.name!r} must be in [{self.lo}, {self.hi}], got {value}")
        return value


@dataclass(frozen=True)
class CellContext:
    """What a method needs to plan one cell (all of it known before any compute)."""

    cell: Cell
    item: DatasetItem
    image: Path
    image_sha: str
    model_id: dict
    native: int
    factor: int
    # look-ups a method shares between the cells of one plan (a black-box editor's
    # ``identity`` per knob setting); one dict per plan, so a new plan looks again
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    def knob(self, name: str) -> Any:
        return dict(self.cell.knobs)[name]


@dataclass(frozen=True)
class Training:
    """What a cell needs trained; the runner keys it on the image, the base model,
    ``prompt``, ``settings`` (so another method's training never shares SINE's key
    unless its settings are SINE's) and, where that changes pixels, how the source is
    prepared (``runner.sources``: a conversion on load, an antialiased downscale to
    ``input_size``, the size a method's own training resizes the source to)."""

    prompt: str
    settings: dict
    trainer: str = "sine"
    input_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Edit:
    """What a cell needs sampled. ``base`` says what else its key covers: "training"
    (the cell's training key), "model" (the base model alone) or "source" (the base
    model, the source image's bytes and, where that changes pixels, how they are
    prepared at the edit's height x width)."""

    kind: str
    prompt: str
    settings: dict
    base: str
    sampler: str = "sine"


@dataclass(frozen=True)
class EditOutput:
    """One edit as a method that makes images returns it, with what it cost alone."""

    image: Any  # PIL.Image.Image at the job's height x width
    seconds: float
    peak_memory_mb: float
    memory: str  # what ``peak_memory_mb`` measures ("cuda allocated", "process peak rss")


@dataclass(frozen=True)
class PlannedCell:
    """The jobs one cell needs: its training (if any), its edit and, for methods whose
    fine-tune has its own sample, the 'memorized' edit the memorization metric reads."""

    edit: Edit
    training: Training | None = None
    memorized: Edit | None = None


class Runtime(Protocol):
    """What the runner lends a method computing edits (``runner.context.LoadedModels``)."""

    @property
    def model(self) -> DiffusionModel: ...

    def trained(self, key: str) -> Any:
        """The loaded training artifact stored under ``key`` (SINE: a FinetunedModel)."""
        ...

    def trained_together(self, keys: Sequence[str]) -> list[Any]:
        """The artifacts of ``keys``, all loaded at once (``Method.load_together``)."""
        ...


def sampling_settings(cell: Cell, *, batched: bool) -> dict:
    """The edit section's settings every method's key carries (guidance, steps, eta,
    scheduler, [batch_size,] [images_per_call,] height, width, seed; keys pinned by
    tests/runner/test_key_pins.py). ``batched``: the sampler batches grid rows (and
    images), so batch_size and images_per_call can change the last bits."""
    e = cell.edit
    common: dict[str, Any] = dict(guidance=e.guidance, steps=e.steps, eta=e.eta)
    common["scheduler"] = e.scheduler
    if batched and e.batch_size > 1:
        common["batch_size"] = e.batch_size
    if batched and e.images_per_call > 1:
        common["images_per_call"] = e.images_per_call
    return common | dict(height=cell.height, width=cell.width, seed=e.seed)


class Method:
    """An editing method. Subclasses set the class attributes and implement the hooks;
    the first line of a subclass's docstring is its one-line summary."""

    name: ClassVar[str]
    trains: ClassVar[str]  # what it trains and under which key, in words
    knobs: ClassVar[tuple[Knob, ...]] = ()
    uses_sine_finetune: ClassVar[bool] = False  # the protocol's finetune section applies
    edits_read_source: ClassVar[bool] = True  # its edit jobs carry the source's item and path
    version: ClassVar[str] = "1"  # part of its keys: bump when its pixels change
    # its fine-tune (the protocol's finetune section) has its own sample, the input of the
    # memorization metric (PlannedCell.memorized): also for edits of it made elsewhere
    memorized_from_finetune: ClassVar[bool] = False
    # run_unit returns EditOutput images (a black-box editor), not latents to decode
    returns_images: ClassVar[bool] = False
    # train and load_trained get the base model (False: they get None, nothing loads it)
    needs_model: ClassVar[bool] = True
    # a plug-in's code identity (``plugins.PluginOrigin.identity``): planning adds it to
    # every key of its jobs; None for what ships, whose keys it never touches
    plugin: dict | None = None
    # whether it edits from an instruction ("make it night"); every shipped method edits
    # towards a caption of the result, so plan refuses them on instruction-only datasets
    takes_instructions: ClassVar[bool] = False

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        raise NotImplementedError

    def unit_group(self, job: EditJob) -> tuple:
        """Edits with equal groups are computed in one unit (they share loading, an
        inversion, ...); the default: everything that loads the same artifact at one size."""
        s = job.settings
        return (job.finetune or "", job.item or "", s["height"], s["width"], s["steps"])

    def edit_units(self, jobs: Sequence[EditJob]) -> list[tuple[tuple[EditJob, ...], int]]:
        """Its edit jobs grouped into units, each with its batch size, in a deterministic
        order; the default: one unit per ``unit_group``, batch size 1."""
        groups: dict[tuple, list[EditJob]] = {}
        for job in jobs:
            groups.setdefault(self.unit_group(job), []).append(job)
        return [(tuple(groups[g]), 1) for g in sorted(groups, key=str)]

    def count(self, jobs: Sequence[EditJob]) -> dict[str, int]:
        """UNet evaluations of ``jobs`` computed as one unit (``shared``) and each alone
        (``naive``): exactly the rows the UNet is called on."""
        raise NotImplementedError

    def run_unit(
        self, runtime: Runtime, jobs: Sequence[EditJob], counter: EvaluationCounter
    ) -> list[torch.Tensor] | list[EditOutput]:
        """Final latents (1, C, h, w) of every job, in order; UNet rows go in ``counter``
        (``returns_images``: an ``EditOutput`` per job instead)."""
        raise NotImplementedError

    # methods that train (``trainer`` = the method's name; SINE's fine-tune is "sine")
    def training_steps(self, settings: dict) -> int:
        """Forward + backward steps of one training job with ``settings``."""
        return int(settings["steps"])

    def training_label(self, settings: dict) -> str:
        """How ``plan`` names one of its training jobs."""
        return self.name

    def training_preparation(
        self,
        training: Training,
        source_hw: tuple[int, int],
        native: int,
        factor: int,
        notes: list[str],
    ) -> dict:
        """What preparing the training input does beyond the identity (part of its key);
        the default: a resize of the source to ``training.input_size``."""
        from .preparation import resize_preparation

        return resize_preparation(source_hw, training.input_size or source_hw, notes)

    def train(
        self, model: DiffusionModel, image: torch.Tensor, job: FinetuneJob, folder: Path
    ) -> None:
        raise NotImplementedError(f"method {self.name!r} trains nothing of its own")

    def load_trained(self, folder: Path, model: DiffusionModel) -> Any:
        raise NotImplementedError(f"method {self.name!r} trains nothing of its own")

    def load_together(self, folders: Sequence[Path], model: DiffusionModel) -> list[Any]:
        """Several artifacts loaded side by side, for a unit that edits with all of them;
        the default: each as ``load_trained`` loads it (independent of one another)."""
        return [self.load_trained(folder, model) for folder in folders]

    def check_cell(self, cell: Cell, item: DatasetItem) -> None:
        """Raise MethodError (one line) for a cell this method cannot compute."""

    def check_training(self, settings: dict, dtype: str) -> None:
        """Raise a one-line bad-input error for training settings that cannot run here
        in ``dtype`` (a missing optional library, say): checked before any compute."""

    def memory_levers(self, settings: Sequence[dict]) -> dict[str, list]:
        """The memory levers these training settings use, for the run manifest."""
        return {}

    # protocol-facing helpers
    @classmethod
    def summary(cls) -> str:
        """One line: the first of the class docstring."""
        return (cls.__doc__ or cls.name).strip().splitlines()[0]

    def knob(self, name: str) -> Knob:
        return {k.name: k for k in self.knobs}[name]

    def own_knobs(self) -> tuple[Knob, ...]:
        return tuple(k for k in self.knobs if not k.edit_field)

    def column(self, knob: str) -> str:
        """The table column of a knob: an edit field's bare name (SINE's v and K, the
        columns of every run table), else ``<method>.<knob>``."""
        return knob if self.knob(knob).edit_field else f"{self.name}.{knob}"
