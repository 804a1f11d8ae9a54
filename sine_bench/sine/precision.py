"""Mixed-precision training the standard way, for a base model loaded in half precision.

The trainable weights and the AdamW state are float32 (so updates of lr 1e-6 are not
rounded away: bfloat16 resolves only about 1/256 of a weight's magnitude); the forward
pass runs under ``torch.autocast`` in the base's dtype; float16 losses are scaled by a
``GradScaler`` (a step whose gradients overflow is skipped and the scale lowered). With a
float32 base all of this is off and training is exactly plain float32.
"""

from __future__ import annotations

import contextlib

import torch

DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


class MixedPrecision:
    """Autocast context and optimiser step for a base model in ``dtype`` on ``device``."""

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype = dtype
        self.device_type = torch.device(device).type
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=dtype == torch.float16)
        self.skipped = 0  # float16 steps whose gradients were not finite

    @property
    def mixed(self) -> bool:
        return self.dtype != torch.float32

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimiser step (scaled for float16)."""
        if not self.scaler.is_enabled():
            loss.backward()
            optimizer.step()
            return
        scale = self.scaler.get_scale()
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
        self.skipped += int(self.scaler.get_scale() < scale)

    def describe(self) -> str:
        return f", {DTYPE_NAMES.get(self.dtype, self.dtype)} autocast" if self.mixed else ""

    def divergence_hint(self) -> str:
        if self.dtype == torch.float16:
            return "float16 overflowed in the forward pass: set model.dtype to bfloat16 or float32"
        advice = "lower the learning rate or check the input image"
        return advice + (" (or set model.dtype to float32)" if self.mixed else "")
