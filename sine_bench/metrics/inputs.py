"""What a scorer sees for one cell: images at the scoring size plus the texts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class CellInputs:
    """Images are (1, 3, H, W) float in [0, 1], all at the protocol's scoring size."""

    source: torch.Tensor
    edit: torch.Tensor
    prompt: str  # the edit prompt (CLIP's target text)
    source_text: str  # the item's description of the source
    target_caption: str  # what the edit should show (oracle); the prompt unless given
    keep: torch.Tensor | None = None  # (1, 1, H, W) bool: pixels the edit should keep
    reference: torch.Tensor | None = None  # the pretrained-only edit (v = 1), same prompt
    memorized: torch.Tensor | None = None  # the fine-tuned model alone (v = 0, K = 0)
    target: torch.Tensor | None = None  # the dataset's ground-truth edit (*_target metrics)
    # the run's references of this cell over every seed of the run (edit_score): the
    # pretrained-only edits (v = 1) and the fine-tuned-only samples (v = 0, K = 0)
    anchors_pretrained: list[torch.Tensor] = field(default_factory=list, repr=False)
    anchors_finetuned: list[torch.Tensor] = field(default_factory=list, repr=False)
    # readings several metrics of this cell share (e.g. the oracle's), computed once
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
