"""Cost accounting: what a run's training and sampling cost, per cell, per method and
in total (training steps, UNet evaluations, seconds), from the plan and the store."""

from __future__ import annotations

import json
import math

from ..methods import get_method, training_steps
from .context import StageStats, edit_evaluations
from .finetune_stage import TIMING_FILE
from .plan import RunPlan, edit_units, unet_evaluations
from .store import Store


def cell_costs(plan: RunPlan, store: Store) -> list[dict]:
    """Per cell what its edit cost: training steps and seconds of the training it uses
    (NaN seconds when the store did not record them), its UNet evaluations alone, and
    its share of its edit unit's seconds (with a black-box editor in the run: also each
    edit's peak memory)."""
    trained: dict[str, dict] = {}
    for key, job in plan.finetunes.items():
        timing = store.path("finetunes", key) / TIMING_FILE
        seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else math.nan
        trained[key] = {"steps": training_steps(job), "seconds": seconds}
    # black-box editors run no UNet of ours: their column is NaN, and peak memory is theirs
    images = {c.cell.method for c in plan.cells if get_method(c.cell.method).returns_images}
    costs = []
    for entry in plan.cells:
        job = plan.edits[entry.edit]
        meta = store.path("edits", entry.edit) / "edit.json"
        unit = json.loads(meta.read_text())["unit"] if meta.is_file() else {}
        train = trained.get(entry.finetune, {"steps": 0, "seconds": 0.0})
        black_box = entry.cell.method in images
        row = {
            "cost.train_steps": train["steps"],
            "cost.train_seconds": train["seconds"],
            "cost.unet_evaluations": math.nan if black_box else edit_evaluations(store, job),
            "cost.edit_seconds": unit.get("seconds", math.nan) / max(unit.get("edits", 1), 1),
        }
        if images:
            row["cost.edit_peak_memory_mb"] = unit.get("peak_memory_mb", math.nan)
        costs.append(row)
    return costs


def evaluation_costs(plan: RunPlan, store: Store, stats: dict[str, StageStats]) -> dict:
    """The manifest's ``unet_evaluations``: the cells' edits and the extra ones (as
    recorded, edit by edit), the grid with K-prefix sharing, what this run computed,
    and the training steps of every fine-tune."""
    return {
        "cells": sum(edit_evaluations(store, plan.edits[c.edit]) for c in plan.cells),
        "extra_edits": sum(
            edit_evaluations(store, j) for j in plan.edits.values() if j.kind != "cell"
        ),
        "grid_with_sharing": sum(unet_evaluations(u.jobs)["shared"] for u in plan.units),
        "computed_this_run": stats["edit"].unet_evaluations,
        "finetune_steps": sum(training_steps(j) for j in plan.finetunes.values()),
    }


def method_costs(plan: RunPlan, store: Store) -> dict[str, dict]:
    """Per method, in protocol order: its cells, the trainings its cells use (steps,
    cached) and the UNet evaluations of its cells' edits (as units, and edit by edit);
    references and memorized samples that metrics add are not counted here."""
    out: dict[str, dict] = {}
    for name in dict.fromkeys(c.cell.method for c in plan.cells):
        cells = [c for c in plan.cells if c.cell.method == name]
        trainings = {c.finetune for c in cells if c.finetune}
        jobs = [plan.edits[k] for k in dict.fromkeys(c.edit for c in cells)]
        counts = [unet_evaluations(u.jobs) for u in edit_units(jobs)]
        out[name] = {
            "cells": len(cells),
            "trainings": len(trainings),
            "trainings_cached": sum(store.sound("finetunes", k) for k in trainings),
            "training_steps": sum(training_steps(plan.finetunes[k]) for k in trainings),
            "edits": len(jobs),
            "unet_evaluations": sum(c["shared"] for c in counts),
            "unet_evaluations_naive": sum(c["naive"] for c in counts),
        }
    return out
