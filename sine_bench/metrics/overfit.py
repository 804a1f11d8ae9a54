"""Overfitting diagnostics: does the fine-tune copy the source and ignore the text?"""

from __future__ import annotations

import math

import torch

from . import clip, lpips
from .inputs import CellInputs
from .metric_name import MetricName

COPY_LPIPS = 0.1  # an edit closer than this (LPIPS) to its source counts as a copy


def copy_rate(name: MetricName, x: CellInputs) -> float:
    """1 if the edit is within COPY_LPIPS of the source and clip_t did not rise, else 0."""
    near = lpips.distance(name.part("lpips"), x.source, x.edit) < COPY_LPIPS
    clip_name = name.part("clip")
    gained = clip.clip_t(clip_name, x) > clip.clip_t(
        clip_name, CellInputs(x.source, x.source, x.prompt, x.source_text, x.target_caption)
    )
    return float(near and not gained)


def editability_gap(name: MetricName, x: CellInputs) -> float:
    """clip_t of the pretrained-only edit (v = 1) minus this edit's clip_t."""
    if x.reference is None:
        return math.nan
    ref = CellInputs(x.source, x.reference, x.prompt, x.source_text, x.target_caption)
    return clip.clip_t(name, ref) - clip.clip_t(name, x)


def memorization(name: MetricName, x: CellInputs) -> float:
    """LPIPS between the fine-tuned model's own sample (v = 0, K = 0) and the source:
    low = the fine-tune reproduces its training image."""
    if x.memorized is None:
        return math.nan
    return lpips.distance(name, x.source, x.memorized)


def prompt_insensitivity(name: MetricName, edits: list[torch.Tensor]) -> float:
    """Mean pairwise CLIP image similarity of one image's edits across its prompts."""
    return clip.mean_pairwise_similarity(name, edits)


def seed_collapse(name: MetricName, edits: list[torch.Tensor]) -> float:
    """Mean pairwise CLIP image similarity of one cell's edits across seeds."""
    return clip.mean_pairwise_similarity(name, edits)
