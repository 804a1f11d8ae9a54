"""From a validated protocol to the concrete jobs of a run, with their keys.

Everything that can fail on bad input (missing or unreadable images, resolutions the
VAE cannot produce, unknown models) fails here, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..images import check_min_side, inspect_image
from ..metrics.registry import MetricName, check_metric_name, min_side
from ..protocol import Cell, FinetuneSpec, Protocol, ResolvedItem, expand_cells, resolve_dataset
from .keys import digest, edit_key, file_sha256, finetune_key, model_identity

MAX_SIDE = 4096  # largest output side, pixels


class PlanError(ValueError):
    """The protocol is valid but cannot run (e.g. a resolution the model cannot make)."""


@dataclass(frozen=True)
class FinetuneJob:
    key: str
    item: str
    image: Path
    prompt: str
    settings: dict  # FinetuneSettings.to_dict()


@dataclass(frozen=True)
class EditJob:
    key: str
    kind: str  # "cell", "reference" (v = 1, pretrained only) or "memorized" (v = 0, K = 0)
    finetune: str | None  # fine-tune key, None for the pretrained-only reference
    prompt: str
    settings: dict  # v, K, guidance, steps, eta, height, width, seed


@dataclass(frozen=True)
class EditUnit:
    """Edits computed in one pass of the grid sampler: one fine-tune, one output size and
    sampler setting, whole K sweeps (they share trajectory prefixes) and, with
    ``batch_size`` > 1, that many trunks batched. Its membership is a function of the
    protocol alone, so a resumed run batches exactly as a fresh one."""

    key: str
    finetune: str | None
    jobs: tuple[EditJob, ...]
    batch_size: int


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
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # item -> (H, W)
    cells: list[CellPlan] = field(default_factory=list)
    finetunes: dict[str, FinetuneJob] = field(default_factory=dict)
    edits: dict[str, EditJob] = field(default_factory=dict)
    units: list[EditUnit] = field(default_factory=list)
    image_notes: dict[str, list[str]] = field(default_factory=dict)  # item -> conversions


def finetune_settings(spec: FinetuneSpec, native: int, factor: int) -> dict:
    """The sine FinetuneSettings (as a dict) a protocol's fine-tune section means."""
    from ..sine import FinetuneSettings, LoraSettings, PatchSettings
    from ..sine.patches import default_patch_grid

    patches = lora = None
    is_lora = spec.method in ("sine-lora", "sine-lora-patch")
    if is_lora:
        lora = LoraSettings(rank=spec.lora_rank, alpha=spec.lora_alpha)
    train_text_encoder = spec.train_text_encoder
    if train_text_encoder is None:
        train_text_encoder = not is_lora
    if spec.method in ("sine-patch", "sine-lora-patch"):
        grid = spec.patch_grid or default_patch_grid(native, factor)
        patches = PatchSettings(grid=grid, min_frac=spec.patch_min_frac)
    settings = FinetuneSettings(
        steps=spec.steps,
        learning_rate=spec.lr,
        weight_decay=spec.weight_decay,
        train_text_encoder=train_text_encoder,
        x0_l1_weight=spec.x0_l1_weight,
        gradient_checkpointing=spec.gradient_checkpointing,
        seed=spec.seed,
        patches=patches,
        lora=lora,
    )
    return settings.to_dict()


def check_source_images(
    items: dict[str, ResolvedItem], metrics: list[MetricName], scoring_size: str
) -> tuple[dict[str, tuple[int, int]], dict[str, list[str]]]:
    """Decode every source image and mask once: their (oriented) sizes and conversion
    notes; refuses unreadable, undecodably large, and (for the metrics) too small ones."""
    need = max((min_side(m), m.text) for m in metrics) if metrics else (1, "")
    sizes, notes = {}, {}
    for item_id, item in items.items():
        info = inspect_image(item.image_path)
        sizes[item_id] = (info.height, info.width)
        notes[item_id] = list(info.notes)
        for mask in {item.mask_path, *item.prompt_masks.values()} - {None}:
            inspect_image(mask, "L")
        scored = sizes[item_id] if scoring_size == "source" else _hxw(scoring_size)
        where = item.image_path if scoring_size == "source" else "scoring.size"
        check_min_side(where, scored, need[0], f"metric {need[1]!r}")
    return sizes, {k: v for k, v in notes.items() if v}


# Version of how a fine-tune's training input is made from the source file. 2: every
# downscale antialiased (sources, patch crops) and files normalised on load (EXIF
# orientation, 16-bit, ICC/CMYK, alpha on white). It enters the keys of the fine-tunes it
# changes and only those: one that neither downscales nor converts is bit-identical.
INPUT_PREPARATION = "2"


def input_preparation(
    source_hw: tuple[int, int], native: int, factor: int, settings: dict, notes: list[str]
) -> dict:
    """What the preparation does to this fine-tune's input beyond the identity ({} if
    nothing): a conversion on load and/or a downscale (of the source to the training
    size, of the source to the patch canvas, or of patch crops larger than the training
    size)."""
    patches = settings.get("patches")
    if patches:
        canvas = patches["grid"] * factor
        shrinks = max(source_hw) > canvas or canvas > native
    else:
        shrinks = max(source_hw) > native
    changes = {}
    if notes:
        changes["decoded"] = list(notes)
    if shrinks:
        changes["downscale"] = "antialiased"
    return {"version": INPUT_PREPARATION, **changes} if changes else {}


def _hxw(label: str) -> tuple[int, int]:
    h, w = label.split("x")
    return int(h), int(w)


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


def build_plan(protocol: Protocol, root: Path = Path(".")) -> RunPlan:
    """Resolve items, keys and jobs. Reads images; loads no weights (except tiny-random's
    config, which builds in milliseconds)."""
    from ..models import check_model, check_precision, model_geometry

    check_model(protocol.model.name, protocol.model.revision)  # e.g. SDXL: refused here
    check_precision(protocol.model.dtype, protocol.model.device)
    native, factor = model_geometry(protocol.model.name, protocol.model.revision)
    items = {i.spec.id: i for i in resolve_dataset(protocol, root)}
    metrics = [check_metric_name(m) for m in protocol.metrics]
    sizes, notes = check_source_images(items, metrics, protocol.scoring.size)
    shas = {item_id: file_sha256(item.image_path) for item_id, item in items.items()}
    spec = protocol.model
    model_id = model_identity(spec.name, spec.revision, spec.seed, spec.dtype)
    plan = RunPlan(protocol, items, shas, model_id, native, factor, metrics, sizes)
    plan.image_notes = notes
    needs = {n for m in metrics for n in m.info.needs}

    references: list[dict[str, str]] = []
    for cell in expand_cells(protocol, list(items.values()), native, factor, sizes):
        _check_size(cell.edit.resolution, cell.height, cell.width, factor)
        item = items[cell.item].spec
        train_prompt = cell.finetune.prompt_template.format(class_word=item.class_word)
        ft_settings = finetune_settings(cell.finetune, native, factor)
        prepared = input_preparation(
            sizes[cell.item], native, factor, ft_settings, notes.get(cell.item, [])
        )
        ft_key = finetune_key(shas[cell.item], model_id, train_prompt, ft_settings, prepared)
        plan.finetunes.setdefault(
            ft_key,
            FinetuneJob(ft_key, cell.item, item_path(items, cell), train_prompt, ft_settings),
        )
        e = cell.edit
        common = dict(guidance=e.guidance, steps=e.steps, eta=e.eta, scheduler=e.scheduler)
        if e.batch_size > 1:  # batched kernels may change the last bits: part of the key
            common["batch_size"] = e.batch_size
        common |= dict(height=cell.height, width=cell.width, seed=e.seed)
        settings = dict(v=e.v, K=e.K, **common)
        key = edit_key(ft_key, cell.prompt, settings)
        plan.edits.setdefault(key, EditJob(key, "cell", ft_key, cell.prompt, settings))
        entry = CellPlan(cell, ft_key, key)
        own: dict[str, str] = {}  # this cell's own references (same seed)
        if needs & {"reference", "anchors"}:
            ref = dict(v=1.0, K=1000, **common)
            own["pretrained"] = edit_key(digest(model_id), cell.prompt, ref)
            plan.edits.setdefault(
                own["pretrained"], EditJob(own["pretrained"], "reference", None, cell.prompt, ref)
            )
        if needs & {"memorized", "anchors"}:
            memo = dict(v=0.0, K=0, **common)
            own["finetuned"] = edit_key(ft_key, train_prompt, memo)
            plan.edits.setdefault(
                own["finetuned"], EditJob(own["finetuned"], "memorized", ft_key, train_prompt, memo)
            )
        if "reference" in needs:
            entry.reference = own["pretrained"]
        if "memorized" in needs:
            entry.memorized = own["finetuned"]
        plan.cells.append(entry)
        references.append(own)
    if "anchors" in needs:
        attach_anchors(plan, references)
    plan.units = edit_units(plan.edits.values())
    return plan


def attach_anchors(plan: RunPlan, references: list[dict[str, str]]) -> None:
    """Give each cell the references of its group over every seed of the run: the cells
    with the same fine-tune, prompt and sampler settings but any seed (and any v, K).
    edit_score calibrates with these alone, so it needs no labels and no other run.
    ``references``: each cell's own (same-seed) reference keys, in ``plan.cells`` order."""
    groups: dict[str, dict[str, set[str]]] = {}
    members: list[str] = []
    for entry, own in zip(plan.cells, references, strict=True):
        settings = plan.edits[entry.edit].settings
        ident = {k: v for k, v in settings.items() if k not in ("v", "K", "seed")}
        group = digest({"finetune": entry.finetune, "prompt": entry.cell.prompt, **ident})
        refs = groups.setdefault(group, {"pretrained": set(), "finetuned": set()})
        for kind, key in own.items():
            refs[kind].add(key)
        members.append(group)
    for entry, group in zip(plan.cells, members, strict=True):
        entry.anchors = {kind: sorted(keys) for kind, keys in groups[group].items()}


def edit_request(job: EditJob):
    """The grid sampler's view of an edit job."""
    from ..sine.grid_sampler import EditRequest

    s = job.settings
    return EditRequest(job.prompt, s["v"], s["K"], s["guidance"], s["seed"])


def edit_units(edits: Iterable[EditJob]) -> list[EditUnit]:
    """Group edits into units: same fine-tune and sampler settings, whole trunks (edits
    differing only in K), ``batch_size`` trunks per unit; deterministic order."""
    groups: dict[tuple, dict[tuple, list[EditJob]]] = {}
    for job in edits:
        s = job.settings
        shape = (job.finetune or "", s["height"], s["width"], s["steps"], s["eta"])
        shape += (s["scheduler"], s.get("batch_size", 1))
        groups.setdefault(shape, {}).setdefault(edit_request(job).trunk, []).append(job)
    units = []
    for shape in sorted(groups, key=str):
        trunks = list(groups[shape].values())
        batch = shape[-1]
        for i in range(0, len(trunks), batch):
            jobs = tuple(j for trunk in trunks[i : i + batch] for j in trunk)
            key = digest(sorted(j.key for j in jobs))
            units.append(EditUnit(key, jobs[0].finetune, jobs, batch))
    return units


def item_path(items: dict[str, ResolvedItem], cell: Cell) -> Path:
    return items[cell.item].image_path


def unet_evaluations(jobs: Iterable[EditJob]) -> dict[str, int]:
    """UNet evaluations of edits run together (one unit): ``shared`` with K-prefix
    sharing, ``naive`` edit by edit (3 per guided DDIM step, t > K and v < 1; 2 otherwise)."""
    from ..sine.grid_sampler import count_evaluations, timesteps_for

    jobs = list(jobs)
    if not jobs:
        return {"naive": 0, "shared": 0}
    steps = {j.settings["steps"] for j in jobs}
    if len(steps) != 1:  # different step counts never share a trajectory
        counts = [unet_evaluations([j for j in jobs if j.settings["steps"] == n]) for n in steps]
        return {k: sum(c[k] for c in counts) for k in ("naive", "shared")}
    return count_evaluations([edit_request(j) for j in jobs], timesteps_for(steps.pop()))
