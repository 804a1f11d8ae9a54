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

``plan.plan_reference_cells`` plans them; this module tells their role and writes their
table. Only runs with a ``methods`` section get them, and only for a role the grid lacks (a
grid setting of that role is its row already); a SINE grid keeps its note instead.
"""

from __future__ import annotations

from ..report.reference_rows import REFERENCES_FILE
from .plan import CellPlan, RunPlan, grid_role

__all__ = ["REFERENCES_FILE", "reference_role", "references_frame"]


def reference_role(entry: CellPlan) -> str:
    """The role of a reference cell, read from its setting as the frontier reads a grid
    setting's (v = 0 with K = 0: fine-tuned only; the pretrained method: pretrained only)."""
    return grid_role(entry)


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
