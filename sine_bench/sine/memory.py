"""Memory levers of a full SINE fine-tune (UNet + text encoder trained, as in the paper).

Each lever is optional and off by default (off = the fine-tune as it always was):

- ``optimizer: adamw-8bit``: bitsandbytes' AdamW8bit, both moments stored in 8 bits
  with block-wise scales (2 bytes a parameter instead of 8). It changes the numbers.
- ``step_in_backward``: one AdamW per parameter, stepped by a hook the moment that
  parameter's gradient is complete, which then frees it: the full set of gradients
  (4 bytes a parameter) never exists at once. With the CPU's single-tensor AdamW the
  steps are bit-identical to one optimiser; on CUDA (foreach kernels) equal up to rounding.
  Not with float16 (its gradient scaler must see every gradient before any step).
- ``offload_pretrained``: the frozen pretrained UNet (and text encoder, when a copy of it
  is trained) wait in host memory while fine-tuning; they are not needed until editing.
  A no-op on a CPU device; never for LoRA (its base UNet is what trains).
- gradient checkpointing (``gradient_checkpointing``, UNet and trained text encoder) lives
  in ``finetune.py``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterable, Iterator

import torch

from ..errors import InputError

OPTIMIZERS = ("adamw", "adamw-8bit")
INSTALL_HINT = "pip install 'sine-bench[memory]'"


class MissingLeverError(InputError, ImportError):
    """A memory lever's optional library is not installed (bad input, exit 2, like a
    metric whose backbone is not installed: change the protocol or install the extra)."""


def missing_optimizer_library(name: str) -> str | None:
    """The one-line reason ``name`` cannot run here, or None if it can."""
    if name != "adamw-8bit":
        return None
    log = logging.getLogger("bitsandbytes")
    level = log.level
    log.setLevel(logging.ERROR)  # its CPU build warns about 4-bit kernels we do not use
    try:
        importlib.import_module("bitsandbytes")
    except Exception as err:  # any import failure (absent, broken build) means "cannot"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"optimizer 'adamw-8bit' needs bitsandbytes ({first}; {INSTALL_HINT})"
    finally:
        log.setLevel(level)
    return None


def optimizer_factory(
    name: str, lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]:
    """A function making the named optimiser over a list of parameters."""
    if name == "adamw":
        return lambda params: torch.optim.AdamW(
            params, lr=lr, betas=betas, weight_decay=weight_decay, eps=eps
        )
    if name == "adamw-8bit":
        reason = missing_optimizer_library(name)
        if reason:
            raise MissingLeverError(reason)
        import bitsandbytes as bnb

        return lambda params: bnb.optim.AdamW8bit(
            params, lr=lr, betas=betas, weight_decay=weight_decay, eps=eps
        )
    raise ValueError(f"unknown optimizer {name!r} (one of {', '.join(OPTIMIZERS)})")


class StepInBackward:
    """Per-parameter optimisers stepped from ``register_post_accumulate_grad_hook``: each
    gradient is applied and freed during backward, so at most the gradients of the
    parameters whose backward is in flight exist at once."""

    def __init__(self, params: Iterable[torch.nn.Parameter], make: Callable) -> None:
        self.optimizers = {}
        self.handles = []
        for param in params:
            self.optimizers[param] = make([param])
            self.handles.append(param.register_post_accumulate_grad_hook(self._step))

    def _step(self, param: torch.nn.Parameter) -> None:
        optimizer = self.optimizers[param]
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def trainable_optimizer(settings, params: list[torch.nn.Parameter]):
    """(optimizer or None, StepInBackward or None) for ``settings``: exactly one is set."""
    make = optimizer_factory(
        settings.optimizer,
        settings.learning_rate,
        settings.betas,
        settings.adam_epsilon,
        settings.weight_decay,
    )
    if settings.step_in_backward:
        return None, StepInBackward(params, make)
    return make(params), None


@contextlib.contextmanager
def pretrained_offloaded(model, enable: bool, text_encoder_too: bool) -> Iterator[None]:
    """Keep the pretrained UNet (and text encoder) in host memory inside the block and put
    them back on their device after it, also on error. Nothing moves on a CPU device."""
    device = model.device
    modules = [model.unet] + ([model.text_encoder] if text_encoder_too else [])
    if not enable or device.type == "cpu":
        yield
        return
    for module in modules:
        module.to("cpu")
    try:
        yield
    finally:
        for module in modules:
            module.to(device)


LEVERS = {"optimizer": "adamw", "step_in_backward": False, "offload_pretrained": False}


def levers_used(settings: Iterable[dict]) -> dict[str, list]:
    """Each lever's distinct values over these fine-tune settings dicts (defaults
    included: a stored dict leaves them out), plus gradient checkpointing; for the
    manifest."""
    used: dict[str, set] = {name: set() for name in (*LEVERS, "gradient_checkpointing")}
    for item in settings:
        for name in used:
            used[name].add(item.get(name, LEVERS.get(name, False)))
    return {name: sorted(values, key=str) for name, values in used.items() if values}
