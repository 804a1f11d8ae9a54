"""``pretrained``: text-to-image with the target prompt, nothing of the source kept
but its prompt: the fidelity floor every editing method should beat.

It is SINE's grid sampler at v = 1 (the pretrained model alone, plain classifier-free
guidance), so its edits are exactly the pretrained-only references SINE's metrics
(``editability_gap``) use, under the same keys: base model, prompt and sampling
settings, not the image.
"""

from __future__ import annotations

from .base import CellContext, Edit, Method, PlannedCell, sampling_settings


def reference_edit(cell, kind: str = "reference") -> Edit:
    """The pretrained model's sample for the cell's prompt and sampling settings."""
    settings = dict(v=1.0, K=1000, **sampling_settings(cell, batched=True))
    return Edit(kind, cell.prompt, settings, "model")


class Pretrained(Method):
    """The pretrained model alone, prompted with the target (text-to-image)."""

    name = "pretrained"
    trains = "nothing"

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        return PlannedCell(reference_edit(ctx.cell, "cell"))
