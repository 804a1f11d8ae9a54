"""What the fine-tune, edit and score stages share, declared in one place.

A stage is a small object over a ``RunContext``: the plan, the store, the executor that
runs its jobs, the statistics every stage adds to, the metric backbones scoring
resolved, and the loaded models (``LoadedModels``, the runtime lent to methods). A Ray
worker builds its own context from the plan and the store root (``StageCall``), so the
driver's and the workers' stages are the same code on the same data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .executors import Executor
from .plan import EditJob, RunPlan, unet_evaluations
from .store import Store

STAGES = ("fine-tune", "edit", "score")


@dataclass
class StageStats:
    total: int = 0
    cached: int = 0
    computed: int = 0
    seconds: float = 0.0
    unet_evaluations: int = 0  # edits: UNet forward passes sampling in this run
    unet_evaluations_finetuned: int = 0  # edits: the part by fine-tuned models
    training_steps: int = 0  # fine-tunes: forward + backward steps run in this run


class LoadedModels:
    """The base model (loaded on first use) and one training artifact at a time, loaded
    from the store: what ``methods.base.Runtime`` promises a method computing edits.
    Edits always load their training from the store (never an in-memory copy), so a
    resumed run and an uninterrupted one compute from the same bytes."""

    def __init__(self, plan: RunPlan, store: Store):
        self.plan, self.store = plan, store
        self._model: Any = None
        self._trained: tuple[str, Any] | None = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from ..models import load_model

            _quiet_hf_progress()
            spec = self.plan.protocol.model
            self._model = load_model(
                spec.name,
                device=spec.device,
                dtype=spec.dtype,
                seed=spec.seed,
                revision=spec.revision,
            )
        return self._model

    def trained(self, key: str) -> Any:
        """The training artifact stored under ``key``, loaded by the method that trained
        it (``Method.load_trained``); one is kept at a time."""
        from ..methods import get_method

        if self._trained is None or self._trained[0] != key:
            self._trained = None  # free the previous one before loading the next
            folder = self.store.path("finetunes", key)
            trainer = get_method(self.plan.finetunes[key].trainer)
            self._trained = (key, trainer.load_trained(folder, self.model))
        return self._trained[1]


@dataclass
class RunContext:
    """Everything the stages of one run share (and nothing else: a stage declares no
    state of its own beyond it)."""

    plan: RunPlan
    store: Store
    executor: Executor
    stats: dict[str, StageStats] = field(default_factory=dict)
    backbones: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> resolved
    models: LoadedModels = field(init=False)

    def __post_init__(self) -> None:
        self.models = LoadedModels(self.plan, self.store)

    def stage_stats(self, stage: str) -> StageStats:
        return self.stats.setdefault(stage, StageStats())

    def edit_image(self, key: str):
        """The stored PNG of edit ``key``."""
        return self.store.path("edits", key) / "edit.png"


def edit_evaluations(store: Store, job: EditJob) -> int:
    """Recorded UNet evaluations of a stored edit (or the planned count)."""
    meta = store.path("edits", job.key) / "edit.json"
    if meta.exists():
        return int(json.loads(meta.read_text())["unet_evaluations"])
    return unet_evaluations([job])["naive"]


def _quiet_hf_progress() -> None:
    """diffusers/transformers draw a bar per save/load; ours per stage is enough."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
