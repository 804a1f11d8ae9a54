"""SINE (Zhang et al., CVPR 2023): fine-tune on the image (patches with the position
encoding, the whole image, or a LoRA adapter), then sample with model-based guidance
(v on the pretrained model while t > K).

A protocol without ``methods`` is SINE. The fine-tune key covers image, model, training
prompt, FinetuneSettings and the input preparation; the edit key the fine-tune key,
prompt, v, K and the sampling settings (pinned: tests/methods/test_sine_keys.py,
tests/runner/test_key_pins.py). Edits of one fine-tune are computed by ``sine.grid_sampler``
(K sweeps share their trajectory prefixes, ``batch_size`` rows per UNet call); with
``images_per_call`` > 1 a unit holds the edits of that many fine-tunes, sampled as one grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .base import (
    CellContext,
    Edit,
    EditJob,
    FinetuneJob,
    Knob,
    Method,
    PlannedCell,
    Training,
    sampling_settings,
)
from .preparation import input_preparation

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import torch

    from ..protocol.sections import FinetuneSpec
    from ..sine import DiffusionModel


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
        patches = PatchSettings(
            grid=grid, min_frac=spec.patch_min_frac, interpolation=spec.patch_interpolation
        )
    settings = FinetuneSettings(
        steps=spec.steps,
        learning_rate=spec.lr,
        weight_decay=spec.weight_decay,
        train_text_encoder=train_text_encoder,
        x0_l1_weight=spec.x0_l1_weight,
        gradient_checkpointing=spec.gradient_checkpointing,
        seed=spec.seed,
        optimizer=spec.optimizer,
        step_in_backward=spec.step_in_backward,
        offload_pretrained=spec.offload_pretrained,
        patches=patches,
        lora=lora,
    )
    return settings.to_dict()


def sine_training(ctx: CellContext) -> Training:
    """The cell's SINE fine-tune (shared by every method that edits with it)."""
    prompt = ctx.cell.finetune.prompt_template.format(class_word=ctx.item.class_word)
    return Training(prompt, finetune_settings(ctx.cell.finetune, ctx.native, ctx.factor))


def memorized_edit(ctx: CellContext, training: Training) -> Edit:
    """The fine-tuned model's own sample (v = 0, K = 0, its training prompt)."""
    settings = dict(v=0.0, K=0, **sampling_settings(ctx.cell, batched=True))
    return Edit("memorized", training.prompt, settings, "training")


def edit_request(job: EditJob, model: int = 0):
    """The grid sampler's view of an edit job (``model``: its fine-tune's index in the unit)."""
    from ..sine.grid_sampler import EditRequest

    s = job.settings
    return EditRequest(job.prompt, s["v"], s["K"], s["guidance"], s["seed"], model)


def unit_finetunes(jobs: Sequence[EditJob]) -> list[str | None]:
    """The distinct fine-tunes of a unit's jobs, in order (None: the base model alone)."""
    return list(dict.fromkeys(j.finetune for j in jobs))


def edit_requests(jobs: Sequence[EditJob]) -> list:
    """Every job's request, each with the index of its fine-tune in ``unit_finetunes``."""
    index = {key: i for i, key in enumerate(unit_finetunes(jobs))}
    return [edit_request(j, index[j.finetune]) for j in jobs]


def images_together(
    units: list[tuple[tuple, int, tuple[EditJob, ...], int]],
) -> list[tuple[tuple[EditJob, ...], int]]:
    """Per-fine-tune units (shape, index within its fine-tune, jobs, batch) merged
    ``images_per_call`` (n) at a time: the i-th units of fine-tunes of one shape (size,
    steps, eta, scheduler, batch_size) and n go together, in sorted order, so membership
    is a function of the protocol alone."""
    merged: dict[tuple, list[list]] = {}
    out: list[tuple[tuple[EditJob, ...], int]] = []
    for shape, i, jobs, batch in units:
        n = jobs[0].settings.get("images_per_call", 1)
        if n == 1:
            out.append((jobs, batch))
            continue
        chunks = merged.setdefault((str(shape[1:]), n, i), [[]])
        if len(chunks[-1]) == n:
            chunks.append([])
        chunks[-1].append((jobs, batch))
    for chunks in merged.values():
        for chunk in chunks:
            out.append((tuple(j for jobs, _ in chunk for j in jobs), chunk[0][1]))
    return out


class Sine(Method):
    """SINE: fine-tune on the image, model-based guidance (v, K)."""

    name = "sine"
    trains = "SINE's fine-tune of the image (key: image, model, training prompt, settings)"
    knobs = (
        Knob("v", float, 0.7, 0.0, 1.0, "weight of the pretrained model while t > K", True),
        Knob("K", int, 400, 0, 1000, "guide with the fine-tuned model while t > K", True),
    )
    uses_sine_finetune = True
    memorized_from_finetune = True
    edits_read_source = False

    def check_training(self, settings: dict, dtype: str) -> None:
        """adamw-8bit's library is installed, and step_in_backward is not paired with
        float16 (whose gradient scaler needs every gradient before any step)."""
        from ..protocol.fields import ProtocolError
        from ..sine.memory import missing_optimizer_library

        reason = missing_optimizer_library(settings.get("optimizer", "adamw"))
        if reason:
            raise ProtocolError(f"finetune.optimizer: {reason}")
        if settings.get("step_in_backward") and dtype == "float16":
            raise ProtocolError(
                "finetune.step_in_backward: not with model.dtype float16 (its gradient "
                "scaler must see every gradient before a step); use bfloat16 or float32"
            )

    def memory_levers(self, settings: Sequence[dict]) -> dict[str, list]:
        from ..sine.memory import levers_used

        return levers_used(settings)

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        training = sine_training(ctx)
        e = ctx.cell.edit
        settings = dict(v=e.v, K=e.K, **sampling_settings(ctx.cell, batched=True))
        edit = Edit("cell", ctx.cell.prompt, settings, "training")
        return PlannedCell(edit, training, memorized_edit(ctx, training))

    def unit_group(self, job: EditJob) -> tuple:
        s = job.settings
        shape = (job.finetune or "", s["height"], s["width"], s["steps"], s["eta"])
        return shape + (s["scheduler"], s.get("batch_size", 1))

    def edit_units(self, jobs: Sequence[EditJob]) -> list[tuple[tuple[EditJob, ...], int]]:
        """The grid sampler's units: same fine-tune and sampler settings, whole trunks
        (edits differing only in K share their prefix), ``batch_size`` trunks per unit;
        with ``images_per_call`` n > 1, n fine-tunes' such units as one."""
        groups: dict[tuple, dict[tuple, list[EditJob]]] = {}
        for job in jobs:
            trunk = edit_request(job).trunk
            groups.setdefault(self.unit_group(job), {}).setdefault(trunk, []).append(job)
        units = []
        for shape in sorted(groups, key=str):
            trunks = list(groups[shape].values())
            batch = shape[-1]
            for i in range(0, len(trunks), batch):
                unit = tuple(j for trunk in trunks[i : i + batch] for j in trunk)
                units.append((shape, i // batch, unit, batch))
        return images_together(units)

    def count(self, jobs: Sequence[EditJob]) -> dict[str, int]:
        """3 evaluations per guided DDIM step (t > K, v < 1), 2 otherwise; ``shared``
        with K-prefix sharing (within a fine-tune: several in a unit add up)."""
        from ..sine.grid_sampler import count_evaluations, timesteps_for

        jobs = list(jobs)
        if not jobs:
            return {"naive": 0, "shared": 0}
        steps = {j.settings["steps"] for j in jobs}
        if len(steps) != 1:  # different step counts never share a trajectory
            counts = [self.count([j for j in jobs if j.settings["steps"] == n]) for n in steps]
            return {k: sum(c[k] for c in counts) for k in ("naive", "shared")}
        return count_evaluations(edit_requests(jobs), timesteps_for(steps.pop()))

    def run_unit(self, runtime, jobs, counter):
        from ..sine.grid_sampler import sample_grid

        s = jobs[0].settings
        keys = unit_finetunes(jobs)
        trained = [k for k in keys if k]
        if len(trained) > 1:
            loaded = dict(zip(trained, runtime.trained_together(trained), strict=True))
        else:
            loaded = {k: runtime.trained(k) for k in trained}
        finetuned = [loaded.get(k) for k in keys]
        return sample_grid(
            runtime.model,
            finetuned if len(finetuned) > 1 else finetuned[0],
            edit_requests(jobs),
            height=s["height"],
            width=s["width"],
            steps=s["steps"],
            eta=s["eta"],
            batch_size=s.get("batch_size", 1),
            images_per_call=s.get("images_per_call", 1),
            counter=counter,
        )

    # its training: the fine-tune of sine/ (stored by save_finetune, PE settings included)
    def train(
        self, model: DiffusionModel, image: torch.Tensor, job: FinetuneJob, folder: Path
    ) -> None:
        from ..sine import FinetuneSettings, finetune, save_finetune

        settings = FinetuneSettings.from_dict(job.settings)
        save_finetune(finetune(model, image, job.prompt, settings, progress=False), folder)

    def load_trained(self, folder: Path, model: DiffusionModel):
        from ..sine import load_finetune

        return load_finetune(folder, model).model

    def load_together(self, folders, model):
        """Full fine-tunes load as UNets of their own; LoRA ones attach to the base side
        by side (one adapter name each), so one call can give each row its adapter."""
        from ..sine import load_finetune
        from ..sine.lora import adapter_name, detach_lora

        detach_lora(model.unet)
        return [
            load_finetune(f, model, adapter=adapter_name(i)).model for i, f in enumerate(folders)
        ]

    def training_label(self, settings: dict) -> str:
        """sine-full, sine-patch, sine-lora or sine-lora-patch (the finetune.method)."""
        kind = "sine-lora" if settings.get("lora") else "sine"
        if settings.get("patches"):
            return f"{kind}-patch"
        return kind if settings.get("lora") else "sine-full"

    def training_preparation(self, training, source_hw, native, factor, notes) -> dict:
        """SINE's rule (``preparation.input_preparation``): the source to the training size
        or the patch canvas, crops to the training size."""
        return input_preparation(source_hw, native, factor, training.settings, notes)
