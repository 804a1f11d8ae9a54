"""The plan of a score run (``sine-bench score``): the edits file's lines as cells over
the protocol's dataset and metrics, and the reference edits some metrics compare with.

A line's edit is keyed on its image's bytes and imported into the store, never
computed. editability_gap, memorization and edit_score compare an edit with
references that no edits file holds (docs/edit-score.md): the pretrained-only edit
and SINE's fine-tuned-only sample. They are computed from the protocol's model, its
``finetune`` and ``edit`` sections (a listed method's own where the line names one),
the line's seed and edit-section settings, at the edit's size rounded to the VAE
factor: what a run at resolution 'source' makes, under the same keys, so a run's
exported edits reuse the run's references. ``references=False`` (or a dataset of
instructions, which those models do not take) omits those metrics, each with a note;
memorization reads SINE's own fine-tune, so it is scored on lines of method 'sine'
only (empty on the others, with a note).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..fileio import file_sha256
from ..methods import CellContext, finetuned_reference, pretrained_reference
from ..metrics.registry import MetricName, check_metric_name
from ..protocol.cells import Cell, method_axes, resolve_size
from ..protocol.dataset import read_dataset
from ..protocol.root import Protocol
from ..protocol.sections import EditSpec, FinetuneSpec
from .edits_file import EditLine, EditsFileError, check_lines, check_settings, read_edits
from .keys import imported_edit_key, model_identity
from .plan import (
    MAX_SIDE,
    CellPlan,
    RunPlan,
    add_edit_job,
    add_training,
    attach_anchors,
    edit_units,
)
from .sources import check_source_images

REFERENCE_NEEDS = frozenset({"reference", "memorized", "anchors"})
# a line's settings of these names set its references' sampling, as a run's grid does
EDIT_FIELDS = ("guidance", "steps", "eta", "scheduler", "batch_size", "seed")


def memorized_from_finetune(label: str) -> bool:
    """Whether a line's method is one whose fine-tune is the protocol's finetune section
    with its own sample (the memorization metric's input): asked of the method itself."""
    from ..protocol.method_checks import METHODS

    return label in METHODS and getattr(METHODS.get(label), "memorized_from_finetune", False)


@dataclass
class ScorePlan:
    """A score run's plan, the edits file it came from and the notes for its manifest
    (one line per metric omitted, or empty on some lines)."""

    plan: RunPlan
    edits_file: Path
    lines: int
    notes: list[str] = field(default_factory=list)


def build_score_plan(protocol: Protocol, edits_file: Path, *, references: bool = True) -> ScorePlan:
    """Read and check the edits file against the protocol's dataset (every bad line is
    an ``EditsFileError``, before anything is computed) and plan its cells."""
    lines = read_edits(edits_file)
    dataset = read_dataset(protocol)
    every = {item.spec.id: item for item in dataset.items}
    used = {line.item for line in lines}
    items = {item_id: item for item_id, item in every.items() if item_id in used}
    metrics = [check_metric_name(m) for m in protocol.metrics]
    check_settings(edits_file, lines, [m.text for m in metrics])
    sizes, notes, remarks = check_source_images(items, metrics, protocol.scoring.size)
    prompts = {item_id: list(item.spec.prompts) for item_id, item in every.items()}
    found = check_lines(edits_file, lines, prompts, sizes)
    # SINE's and the pretrained model's references are prompted with a caption
    instructed = any(item.spec.prompt_kind == "instruction" for item in items.values())
    metrics, manifest_notes = _metrics_kept(metrics, references, instructed, lines)
    needs = {n for m in metrics for n in m.info.needs}
    native, factor, model_id = 0, 1, {}
    if needs & REFERENCE_NEEDS:  # only references load anything of the model
        from ..models.loading import check_precision, model_geometry

        spec = protocol.model
        check_precision(spec.dtype, spec.device)
        native, factor = model_geometry(spec.name, spec.revision)
        model_id = model_identity(spec.name, spec.revision, spec.seed, spec.dtype)
    shas = {item_id: file_sha256(item.image_path) for item_id, item in items.items()}
    plan = RunPlan(protocol, items, shas, model_id, native, factor, metrics, sizes)
    plan.image_notes, plan.input_notes = notes, remarks
    plan.dataset = dataset.record()
    plan.axes = _axes(lines, listed=bool(protocol.methods))
    own_references = []
    for line in lines:
        entry = _cell(plan, line, found[line.number], edits_file)
        plan.cells.append(entry)
        own_references.append(_references(plan, entry, needs, line, edits_file))
    if "anchors" in needs:
        attach_anchors(plan, own_references)
    plan.units = edit_units(plan.edits.values())
    return ScorePlan(plan, edits_file, len(lines), manifest_notes)


def _metrics_kept(
    metrics: list[MetricName], references: bool, instructed: bool, lines: list[EditLine]
) -> tuple[list[MetricName], list[str]]:
    """The metrics scored, and a note for each one omitted or scored on some lines only."""
    kept, notes = [], []
    why = "which --no-references leaves uncomputed" if not references else ""
    if instructed:
        why = why or "which take a caption, and this dataset gives instructions"
    for metric in metrics:
        wants = REFERENCE_NEEDS & set(metric.info.needs)
        if wants and why:
            notes.append(
                f"{metric.text}: omitted: it compares each edit with reference edits of the "
                f"protocol's model, {why}"
            )
            continue
        kept.append(metric)
        others = sum(not memorized_from_finetune(line.method_label) for line in lines)
        if "memorized" in wants and others:
            notes.append(
                f"{metric.text}: empty on {others} of {len(lines)} edits: it reads the "
                "edit's method's own fine-tune, known only for methods whose fine-tune is "
                "the protocol's finetune section (sine)"
            )
    return kept, notes


def _axes(lines: list[EditLine], *, listed: bool) -> list[str]:
    """Every setting in first-seen order, after 'method' when the lines are of several
    methods or the protocol lists ``methods`` (``listed``: a run of it has that axis,
    and compare matches rows on it), else one method's edits are its grid. A run's
    tables have two axes at least (the report's image grids are rows x columns): with
    fewer settings, 'method' and then 'seed' (empty where no line gives one) are axes."""
    settings: list[str] = []
    for line in lines:
        settings += [name for name, _ in line.settings if name not in settings]
    several = listed or len({line.method_label for line in lines}) > 1
    axes = (["method"] if several or len(settings) < 2 else []) + settings
    return axes if len(axes) >= 2 else [*axes, "seed"]


def _sections(protocol: Protocol, line: EditLine, where: str) -> tuple[EditSpec, FinetuneSpec]:
    """The edit and finetune sections the line's references use: the protocol's (its
    listed method's, where the line names one), with the line's settings of their fields."""
    if protocol.methods and line.method in protocol.methods:
        edit, finetune = method_axes(protocol, line.method)[:2]
    else:
        edit, finetune = protocol.edit, protocol.finetune
    settings = {k: v for k, v in line.settings if v is not None}
    edit_over = {k: settings[k] for k in EDIT_FIELDS if k in settings}
    tune_over = {
        k.removeprefix("finetune."): v for k, v in settings.items() if k.startswith("finetune.")
    }
    try:
        edit = EditSpec.model_validate(edit.model_dump() | edit_over)
        finetune = FinetuneSpec.model_validate(finetune.model_dump() | tune_over)
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise EditsFileError(f"{where}: setting {name!r}: {first['msg']}") from None
    return edit, finetune


def _cell(plan: RunPlan, line: EditLine, size: tuple[int, int], edits_file: Path) -> CellPlan:
    where = f"{edits_file} line {line.number}"
    edit, finetune = _sections(plan.protocol, line, where)
    item = plan.items[line.item]
    axes = (("method", line.method_label),) if "method" in (plan.axes or []) else ()
    cell = Cell(
        line.item,
        item.spec.prompts.index(line.prompt),
        line.prompt,
        finetune,
        edit,
        *size,
        axes + line.settings,
        line.method_label,
    )
    key = imported_edit_key(file_sha256(line.image))
    plan.imported.setdefault(key, line.image)
    return CellPlan(cell, "", key)


def _references(
    plan: RunPlan, entry: CellPlan, needs: set[str], line: EditLine, edits_file: Path
) -> dict[str, str]:
    """Plan the cell's references (``needs``: the kept metrics'); its own keys by kind."""
    own: dict[str, str] = {}
    memorized = "memorized" in needs and memorized_from_finetune(line.method_label)
    if not (needs & {"reference", "anchors"} or memorized):
        return own
    cell = entry.cell
    height, width = resolve_size("source", plan.native, plan.factor, (cell.height, cell.width))
    if max(height, width) > MAX_SIDE:
        raise EditsFileError(
            f"{edits_file} line {line.number}: its references would be {height}x{width}, over "
            f"the model's largest side {MAX_SIDE} (score with --no-references)"
        )
    sized = dataclasses.replace(cell, height=height, width=width)
    item = plan.items[cell.item]
    sha = plan.image_sha[cell.item]
    ctx = CellContext(
        sized, item.spec, item.image_path, sha, plan.model_id, plan.native, plan.factor
    )
    if needs & {"reference", "anchors"}:
        own["pretrained"] = add_edit_job(plan, sized, pretrained_reference(ctx), "")
    if "anchors" in needs or memorized:
        training, sample = finetuned_reference(ctx)
        own["finetuned"] = add_edit_job(plan, sized, sample, add_training(plan, sized, training))
    if "reference" in needs:
        entry.reference = own["pretrained"]
    if memorized:
        entry.memorized = own["finetuned"]
    return own
