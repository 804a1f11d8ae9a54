"""The reference rows of a methods run: the fine-tuned-only and pretrained-only samples
the run computed anyway (edit_score's anchors, editability_gap's reference, SINE's
memorized sample), scored with the run's cell metrics as if each were a grid cell.

A reference cell is the ``CellPlan`` a grid cell whose edit is that reference image
gets: the same item, prompt, reference, memorized sample and anchors as the cell it was
computed for, so its score keys are ``scoring.score_keys`` of that plan, and scoring
it adds store entries only (no edit, fine-tune or existing score key moves). The
pretrained-only sample is the ``pretrained`` method's edit under the same key, so its
scores are a pretrained grid cell's; SINE's fine-tuned-only sample is prompted with its
training prompt, so a grid cell v = 0, K = 0 (the edit prompt in its key, the same
pixels) keys its image, and so its scores, apart.

Only runs with a ``methods`` section get them, and only for a role the grid lacks (a
grid setting of that role is its row already); a SINE grid keeps its note instead.
"""

from __future__ import annotations

import dataclasses
import json

from ..report.frontier import FINE_TUNED_ONLY as FINE_TUNED
from ..report.frontier import PRETRAINED_ONLY as PRETRAINED
from ..report.frontier import role
from ..report.reference_rows import REFERENCES_FILE, SAMPLING
from .plan import CellPlan, RunPlan

__all__ = ["REFERENCES_FILE", "plan_reference_cells", "reference_role", "references_frame"]
KEPT_AXES = ("resolution", "seed")  # the deriving cell's axes a reference keeps


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
        if finetuned is None and entry.cell.method == "sine":
            finetuned = entry.memorized  # SINE's own sample, for memorization
        if FINE_TUNED not in present and finetuned:
            memorized = finetuned if "memorized" in needs else None
            _add(out, plan, entry, finetuned, FINE_TUNED, memorized)
        pretrained = own.get("pretrained")
        if PRETRAINED not in present and pretrained:
            _add(out, plan, entry, pretrained, PRETRAINED, None)
    return list(out.values())


def _add(
    out: dict, plan: RunPlan, entry: CellPlan, key: str, role: str, memorized: str | None
) -> None:
    cell = entry.cell
    ident = (key, cell.item, cell.prompt_index, entry.reference, memorized)
    ident += (json.dumps(entry.anchors, sort_keys=True),)
    if ident in out:
        return
    job = plan.edits[key]
    axes: list[tuple[str, object]] = [("method", "sine" if role == FINE_TUNED else "pretrained")]
    if role == FINE_TUNED:
        axes += [("v", float(job.settings["v"])), ("K", int(job.settings["K"]))]
    axes += [(a, v) for a, v in cell.axes if a in KEPT_AXES]
    if role == FINE_TUNED:  # its fine-tune's settings: the deriving cell's swept ones
        axes += [(a, v) for a, v in cell.axes if a.startswith("finetune.")]
    axes += [(name, job.settings[name]) for name in SAMPLING if name in job.settings]
    virtual = dataclasses.replace(cell, axes=tuple(axes), method=dict(axes)["method"])
    out[ident] = CellPlan(virtual, job.finetune or "", key, entry.reference, memorized)
    out[ident].anchors = entry.anchors


def reference_role(entry: CellPlan) -> str:
    """The role of a reference cell (its method names it)."""
    return FINE_TUNED if entry.cell.method == "sine" else PRETRAINED


REFERENCE_IMAGES = "images/references"


def references_frame(plan: RunPlan, scores: list[dict[str, float]]):
    """One row per reference cell: its role, item, prompt, setting columns, keys, image
    path (under ``REFERENCE_IMAGES``) and every cell metric, like a cells-table row."""
    import pandas as pd

    typed = any(item.spec.edit_type is not None for item in plan.items.values())
    rows = []
    for entry, values in zip(plan.reference_cells, scores, strict=True):
        cell = entry.cell
        cell_id = f"ref-{cell.item}-p{cell.prompt_index}-{entry.edit[:10]}"
        size = plan.image_sizes.get(cell.item)
        row = {
            "cell_id": cell_id,
            "role": reference_role(entry),
            "item": cell.item,
            "prompt_index": cell.prompt_index,
            "prompt": cell.prompt,
            **({"edit_type": plan.items[cell.item].spec.edit_type} if typed else {}),
            **cell.axis_dict,
            "height": cell.height,
            "width": cell.width,
            "source_size": f"{size[0]}x{size[1]}" if size else None,
            "finetune_key": entry.finetune,
            "edit_key": entry.edit,
            "image": f"{REFERENCE_IMAGES}/{cell_id}.png",
        }
        rows.append(row | values)
    return pd.DataFrame(rows)
