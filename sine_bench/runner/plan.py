"""From a validated protocol to the concrete jobs of a run, with their keys.

Each cell's method (``methods/``) says what it needs trained and sampled; this module
keys those jobs and groups edits into units. Everything that can fail on bad input
(missing or unreadable images, resolutions the VAE cannot produce, unknown models,
settings a method cannot run) fails here, before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..fileio import file_sha256
from ..methods import (
    FINETUNED_REFERENCE_METHOD,
    PRETRAINED_REFERENCE_METHOD,
    CellContext,
    Edit,
    EditJob,
    FinetuneJob,
    MethodError,
    Training,
    count_evaluations,
    finetuned_reference,
    get_method,
    pretrained_reference,
)
from ..methods.plugins import PluginFailed, plugin_code
from ..methods.preparation import resize_preparation
from ..metrics.registry import MetricName, check_metric_name
from ..protocol.cells import MAX_CELLS, Cell, axis_labels, check_grid_size, expand_cells
from ..protocol.dataset import ResolvedItem, read_dataset
from ..protocol.root import Protocol
from ..report.frontier import FINE_TUNED_ONLY, PRETRAINED_ONLY, role
from ..report.reference_rows import SAMPLING
from .keys import digest, edit_key, finetune_key, model_identity
from .sources import check_source_images

MAX_SIDE = 4096  # largest output side, pixels


class PlanError(InputError):
    """The protocol is valid but cannot run (e.g. a resolution the model cannot make)."""


@dataclass(frozen=True)
class EditUnit:
    """Edits computed in one pass of the grid sampler: one fine-tune, one output size and
    sampler setting, whole K sweeps (they share trajectory prefixes) and, with
    ``batch_size`` > 1, that many trunks batched (``images_per_call`` > 1: that many
    fine-tunes' such edits). Its membership is a function of the protocol alone, so a
    resumed run batches exactly as a fresh one."""

    key: str
    finetune: str | None  # the first job's (images_per_call > 1: of several)
    jobs: tuple[EditJob, ...]
    batch_size: int
    sampler: str = "sine"  # the method whose code computes the unit (its ``run_unit``)


@dataclass
class CellPlan:
    cell: Cell
    finetune: str
    edit: str
    reference: str | None = None
    memorized: str | None = None
    # edit_score's references over every seed of the run: pretrained-only, fine-tuned-only
    anchors: dict[str, list[str]] | None = None


@dataclass
class RunPlan:
    protocol: Protocol
    items: dict[str, ResolvedItem]
    image_sha: dict[str, str]
    model_id: dict
    native: int
    factor: int
    metrics: list[MetricName]
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # item -> oriented (H, W)
    cells: list[CellPlan] = field(default_factory=list)
    finetunes: dict[str, FinetuneJob] = field(default_factory=dict)
    edits: dict[str, EditJob] = field(default_factory=dict)
    units: list[EditUnit] = field(default_factory=list)
    image_notes: dict[str, list[str]] = field(default_factory=dict)  # item -> conversions
    # item -> how its inputs are read with unchanged pixels (frames, masks): never keyed
    input_notes: dict[str, list[str]] = field(default_factory=dict)
    # what was read: source file, items, content hash, preparation (the run manifest's)
    dataset: dict = field(default_factory=dict)
    # edits made elsewhere (``sine-bench score``): edit key -> the image file it is read
    # from; imported into the store, never computed, so no plan job and no cost
    imported: dict[str, Path] = field(default_factory=dict)
    # the cells table's axis columns when they are not the protocol's (a score run's
    # come from its edits file); None: ``axis_labels(protocol)``
    axes: list[str] | None = None
    # a methods run's fine-tuned-only / pretrained-only samples the grid has no setting
    # for, each as the grid cell whose edit it is (``reference_cells``): scored, not cells
    reference_cells: list[CellPlan] = field(default_factory=list)

    @property
    def axis_labels(self) -> list[str]:
        """The cells table's axis columns."""
        return list(self.axes) if self.axes is not None else axis_labels(self.protocol)


def _check_size(label: str, h: int, w: int, factor: int) -> None:
    from ..sine.components import ResolutionError

    if h < factor or w < factor:
        raise ResolutionError(
            f"grid resolution {label!r} -> {h}x{w}: both sides must be at least the VAE "
            f"factor {factor}"
        )
    if h % factor or w % factor:
        raise ResolutionError(
            f"grid resolution {label!r} -> {h}x{w} is not a multiple of the VAE factor {factor} "
            f"(use sides that are multiples of {factor})"
        )
    if max(h, w) > MAX_SIDE:
        raise ResolutionError(
            f"grid resolution {label!r} -> {h}x{w} exceeds the largest supported side {MAX_SIDE} "
            "(choose a smaller resolution)"
        )


def build_plan(
    protocol: Protocol, root: Path = Path("."), max_cells: int | None = MAX_CELLS
) -> RunPlan:
    """Resolve items, keys and jobs of a protocol whose model family ``preflight`` has
    checked. Reads images; loads no weights (except tiny-random's config, which builds
    in milliseconds). A grid over ``max_cells`` is refused first."""
    from ..models.loading import check_precision, model_geometry

    check_precision(protocol.model.dtype, protocol.model.device)
    native, factor = model_geometry(protocol.model.name, protocol.model.revision)
    dataset = read_dataset(protocol, root)
    items = {i.spec.id: i for i in dataset.items}
    check_grid_size(protocol, items.values(), max_cells)
    metrics = [check_metric_name(m) for m in protocol.metrics]
    sizes, notes, remarks = check_source_images(items, metrics, protocol.scoring.size)
    shas = {item_id: file_sha256(item.image_path) for item_id, item in items.items()}
    spec = protocol.model
    model_id = model_identity(spec.name, spec.revision, spec.seed, spec.dtype)
    plan = RunPlan(protocol, items, shas, model_id, native, factor, metrics, sizes)
    plan.image_notes, plan.input_notes = notes, remarks
    plan.dataset = dataset.record()
    needs = {n for m in metrics for n in m.info.needs}

    references: list[dict[str, str]] = []
    memo: dict = {}  # methods' look-ups shared by this plan's cells (CellContext.memo)
    for cell in expand_cells(protocol, list(items.values()), native, factor, sizes):
        _check_size(cell.edit.resolution, cell.height, cell.width, factor)
        entry, own = _plan_cell(plan, cell, needs, memo)
        plan.cells.append(entry)
        references.append(own)
    if "anchors" in needs:
        attach_anchors(plan, references)
    plan.reference_cells = plan_reference_cells(plan, references, needs)
    plan.units = edit_units(plan.edits.values())
    return plan


def _plan_cell(
    plan: RunPlan, cell: Cell, needs: set[str], memo: dict
) -> tuple[CellPlan, dict[str, str]]:
    """Key the jobs the cell's method asks for and add them to the plan; also return the
    cell's own (same-seed) reference keys that edit_score's anchors gather."""
    item = plan.items[cell.item]
    method = get_method(cell.method)
    if item.spec.prompt_kind == "instruction" and not getattr(method, "takes_instructions", False):
        raise PlanError(
            f"item {cell.item!r}: method {method.name!r} edits towards a caption of the "
            f"result, and this dataset gives only an instruction ({cell.prompt!r}); use a "
            "method that takes instructions (diffusers-pipeline), or a dataset with captions "
            "(docs/benchmarks.md)"
        )
    try:
        method.check_cell(cell, item.spec)
    except MethodError as err:
        raise PlanError(f"item {cell.item!r}: {err}") from None
    sha = plan.image_sha[cell.item]
    ctx = CellContext(
        cell, item.spec, item.image_path, sha, plan.model_id, plan.native, plan.factor, memo
    )
    try:
        with plugin_code(method, f"plan_cell of item {cell.item!r}"):
            planned = method.plan_cell(ctx)
    except PluginFailed as err:  # found while planning: bad input, before any compute
        raise PlanError(str(err)) from None
    training_key = add_training(plan, cell, planned.training) if planned.training else ""
    keyed = lambda edit: add_edit_job(plan, cell, edit, training_key)  # noqa: E731
    entry = CellPlan(cell, training_key, keyed(planned.edit))
    own: dict[str, str] = {}
    if needs & {"reference", "anchors"}:
        own["pretrained"] = keyed(pretrained_reference(ctx))
    if "anchors" in needs:  # the copy end: SINE's fine-tuned-only sample, for every method
        training, memorized = finetuned_reference(ctx)
        own["finetuned"] = add_edit_job(plan, cell, memorized, add_training(plan, cell, training))
    if "reference" in needs:
        entry.reference = own["pretrained"]
    if "memorized" in needs and planned.memorized is not None:  # the method's own
        entry.memorized = keyed(planned.memorized)
    return entry, own


def add_training(plan: RunPlan, cell: Cell, training: Training) -> str:
    """Key a training job (SINE's fine-tune or a method's own) and add it to the plan."""
    item = plan.items[cell.item]
    sha = plan.image_sha[cell.item]
    prepared = _training_preparation(plan, cell.item, training)
    settings = _with_plugin(training.settings, training.trainer)
    key = finetune_key(sha, plan.model_id, training.prompt, settings, prepared)
    job = FinetuneJob(key, cell.item, item.image_path, training.prompt, settings, training.trainer)
    plan.finetunes.setdefault(key, job)
    return key


def attach_anchors(plan: RunPlan, references: list[dict[str, str]]) -> None:
    """Give each cell its references over every seed of the run: the reference edits
    that differ from the cell's own only in their seed (same model or fine-tune, prompt,
    size and sampler). edit_score calibrates with these alone, so it needs no labels and
    no other run. ``references``: each cell's own (same-seed) reference keys, in
    ``plan.cells`` order. Every method's cells share the same two ends (the
    pretrained-only edit and SINE's fine-tuned-only sample), so their scores compare.
    """
    groups: dict[str, dict[str, set[str]]] = {}
    members: list[str] = []
    for own in references:
        ident = {}
        for kind, key in sorted(own.items()):
            job = plan.edits[key]
            rest = {k: v for k, v in job.settings.items() if k != "seed"}
            ident[kind] = {"base": job.finetune, "prompt": job.prompt, **rest}
        group = digest(ident)
        refs = groups.setdefault(group, {"pretrained": set(), "finetuned": set()})
        for kind, key in own.items():
            refs[kind].add(key)
        members.append(group)
    for entry, group in zip(plan.cells, members, strict=True):
        entry.anchors = {kind: sorted(keys) for kind, keys in groups[group].items()}


def _training_preparation(plan: RunPlan, item: str, training: Training) -> dict:
    """What preparing the training input does beyond the identity, by the rule of the
    method that trains (``Method.training_preparation``)."""
    size, notes = plan.image_sizes[item], plan.image_notes.get(item, [])
    trainer = get_method(training.trainer)
    return trainer.training_preparation(training, size, plan.native, plan.factor, notes)


def add_edit_job(plan: RunPlan, cell: Cell, edit: Edit, training_key: str) -> str:
    """Key one edit on what its base says it depends on; add it to the plan."""
    if edit.base == "training":
        base, finetune = training_key, training_key
    elif edit.base == "model":
        base, finetune = digest(plan.model_id), None
    else:  # "source": the base model, the source image's bytes and how they are prepared
        source = {"model": plan.model_id, "image": plan.image_sha[cell.item]}
        hw = (edit.settings["height"], edit.settings["width"])
        prepared = resize_preparation(
            plan.image_sizes[cell.item], hw, plan.image_notes.get(cell.item, [])
        )
        base, finetune = digest(source | ({"preparation": prepared} if prepared else {})), None
    settings = _with_plugin(edit.settings, edit.sampler)
    key = edit_key(base, edit.prompt, settings)
    reads = get_method(edit.sampler).edits_read_source
    image = plan.items[cell.item].image_path if reads else None
    item = cell.item if reads else None
    job = EditJob(key, edit.kind, finetune, edit.prompt, settings, edit.sampler, item, image)
    plan.edits.setdefault(key, job)
    return key


def _with_plugin(settings: dict, method: str) -> dict:
    """A plug-in's job settings with its code's identity (``Method.plugin``), so editing
    the plug-in recomputes its jobs; what ships carries none (its keys never move)."""
    identity = get_method(method).plugin
    return settings if identity is None else settings | {"plugin": identity}


def edit_units(edits: Iterable[EditJob]) -> list[EditUnit]:
    """Group edits into units, each method its own (``Method.edit_units``: SINE's grid
    sampler batches whole K trunks); deterministic order, so a resumed run batches
    exactly as a fresh one."""
    by_sampler: dict[str, list[EditJob]] = {}
    for job in edits:
        by_sampler.setdefault(job.sampler, []).append(job)
    units = []
    for sampler in sorted(by_sampler):
        for jobs, batch in get_method(sampler).edit_units(by_sampler[sampler]):
            key = digest(sorted(j.key for j in jobs))
            units.append(EditUnit(key, jobs[0].finetune, jobs, batch, sampler))
    return units


def unet_evaluations(jobs: Iterable[EditJob]) -> dict[str, int]:
    """UNet evaluations of edits run together (one unit): ``shared`` as the unit computes
    them (SINE: with K-prefix sharing), ``naive`` edit by edit; by each job's method."""
    return count_evaluations(list(jobs))


# ---------------------------------- a methods run's reference rows (see reference_cells.py)

REFERENCE_KEPT_AXES = ("resolution", "seed")  # the deriving cell's axes a reference keeps


def grid_role(entry: CellPlan) -> str:
    """A grid cell's role in the frontier (``report.frontier.role`` of its setting)."""
    return role(entry.cell.axis_dict | {"method": entry.cell.method})


def plan_reference_cells(
    plan: RunPlan, references: list[dict[str, str]], needs: set[str]
) -> list[CellPlan]:
    """Each distinct (reference image, item, prompt, score inputs) of the roles the grid
    lacks, in ``plan.cells`` order. ``references``: each cell's own reference keys by
    kind ("pretrained", "finetuned"), as ``plan.attach_anchors`` reads them."""
    if not plan.protocol.methods:
        return []
    present = {grid_role(entry) for entry in plan.cells}
    out: dict[tuple, CellPlan] = {}
    for entry, own in zip(plan.cells, references, strict=True):
        finetuned = own.get("finetuned")
        if finetuned is None and get_method(entry.cell.method).memorized_from_finetune:
            finetuned = entry.memorized  # the protocol fine-tune's own sample (SINE's)
        if FINE_TUNED_ONLY not in present and finetuned:
            memorized = finetuned if "memorized" in needs else None
            _add_reference(out, plan, entry, finetuned, FINE_TUNED_ONLY, memorized)
        pretrained = own.get("pretrained")
        if PRETRAINED_ONLY not in present and pretrained:
            _add_reference(out, plan, entry, pretrained, PRETRAINED_ONLY, None)
    return list(out.values())


def _add_reference(
    out: dict, plan: RunPlan, entry: CellPlan, key: str, kind: str, memorized: str | None
) -> None:
    cell = entry.cell
    ident = (key, cell.item, cell.prompt_index, entry.reference, memorized)
    ident += (json.dumps(entry.anchors, sort_keys=True),)
    if ident in out:
        return
    job = plan.edits[key]
    own = FINETUNED_REFERENCE_METHOD if kind == FINE_TUNED_ONLY else PRETRAINED_REFERENCE_METHOD
    axes: list[tuple[str, object]] = [("method", own)]  # the method it is a sample of
    if kind == FINE_TUNED_ONLY:
        axes += [("v", float(job.settings["v"])), ("K", int(job.settings["K"]))]
    axes += [(a, v) for a, v in cell.axes if a in REFERENCE_KEPT_AXES]
    if kind == FINE_TUNED_ONLY:  # its fine-tune's settings: the deriving cell's swept ones
        axes += [(a, v) for a, v in cell.axes if a.startswith("finetune.")]
    axes += [(name, job.settings[name]) for name in SAMPLING if name in job.settings]
    virtual = dataclasses.replace(cell, axes=tuple(axes), method=dict(axes)["method"])
    out[ident] = CellPlan(virtual, job.finetune or "", key, entry.reference, memorized)
    out[ident].anchors = entry.anchors
