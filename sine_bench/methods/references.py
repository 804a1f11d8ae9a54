"""The two ends a cell's metrics compare its edit against, the same for every method:
the pretrained model's sample for the cell's prompt (``reference``, one end of
edit_score's ``anchors``) and SINE's fine-tuned-only sample (the other end). The
metrics define them; the methods that compute them are ``pretrained`` and ``sine``."""

from __future__ import annotations

from .base import CellContext, Edit, Training
from .pretrained import Pretrained, reference_edit
from .sine import Sine, memorized_edit, sine_training

# the method each reference is a sample of (a reference row's method in a report)
PRETRAINED_REFERENCE_METHOD = Pretrained.name
FINETUNED_REFERENCE_METHOD = Sine.name


def pretrained_reference(ctx: CellContext) -> Edit:
    """The base model alone, prompted with the cell's target (kind "reference")."""
    return reference_edit(ctx.cell)


def finetuned_reference(ctx: CellContext) -> tuple[Training, Edit]:
    """SINE's fine-tune of the cell's image and its own sample (v = 0, K = 0)."""
    training = sine_training(ctx)
    return training, memorized_edit(ctx, training)
