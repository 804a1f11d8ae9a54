"""Model-based classifier-free guidance (SINE, Stage 2), as pure functions of noise predictions.

With w the guidance scale, eps_u / eps_c the pretrained model's unconditional and
edit-prompt predictions and eps_f the fine-tuned model's prediction for its own
training prompt:

    t > K:   eps = eps_u + w * (v * eps_c + (1 - v) * eps_f - eps_u)
    t <= K:  eps = eps_u + w * (eps_c - eps_u)

v weighs the pretrained model; K is a DDPM timestep threshold out of 1000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


def pretrained_guidance(eps_u: torch.Tensor, eps_c: torch.Tensor, w: float) -> torch.Tensor:
    """Plain classifier-free guidance with the pretrained model."""
    return eps_u + w * (eps_c - eps_u)


def sine_guidance(
    eps_u: torch.Tensor, eps_c: torch.Tensor, eps_f: torch.Tensor, *, v: float, w: float
) -> torch.Tensor:
    """The guided SINE prediction for a step inside the guided window (t > K)."""
    return eps_u + w * (v * eps_c + (1.0 - v) * eps_f - eps_u)


def is_guided(t: int, k: int) -> bool:
    """SINE guides while t > K (K = 1000 never, K = 0 at every step)."""
    return int(t) > int(k)


@dataclass(frozen=True)
class ModelWindow:
    """One fine-tuned model's weight b and the timesteps (t_min, t_max] where it guides."""

    weight: float
    t_min: int = 0
    t_max: int = 1000

    def active(self, t: int) -> bool:
        return self.t_min < int(t) <= self.t_max


def multi_model_guidance(
    eps_u: torch.Tensor,
    eps_c: torch.Tensor,
    eps_models: Sequence[torch.Tensor],
    weights: Sequence[float],
    w: float,
) -> torch.Tensor:
    """eps_u + w * ((1 - sum b_i) eps_c + sum b_i eps_i - eps_u), over the active models."""
    if len(eps_models) != len(weights):
        raise ValueError(f"{len(eps_models)} predictions but {len(weights)} weights")
    mixed = (1.0 - float(sum(weights))) * eps_c
    for eps_i, b_i in zip(eps_models, weights, strict=True):
        mixed = mixed + b_i * eps_i
    return eps_u + w * (mixed - eps_u)
