"""What the fine-tune, edit and score stages share, declared in one place.

A stage is a small object over a ``RunContext``: the plan, the store, the executor that
runs its jobs, the statistics every stage adds to, the metric backbones scoring
resolved, and the loaded models (``LoadedModels``, the runtime lent to methods). A Ray
worker builds its own context from the plan and the store root (``StageCall``), so the
driver's and the workers' stages are the same code on the same data. A stage trusts a
stored entry only after ``Store.check`` (its digest): a damaged one is set aside and
computed again, also when it is found damaged or gone later in the run
(``LoadedModels.trained``, ``RunContext.edit_image``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..methods import EditJob
from ..protocol.method_checks import register_classes
from ..registry import Registry
from .executors import ClusterError, Executor, LocalExecutor
from .plan import RunPlan, unet_evaluations
from .store import Store, StoreDamaged

STAGES = ("fine-tune", "edit", "score")

# each stage's type by name, loaded on first use: the stages sit above this module
# (they take a RunContext), and a worker in another process rebuilds one by name
STAGE_TYPES: Registry[type] = Registry(
    "stage",
    LookupError,
    {
        "fine-tune": "sine_bench.runner.finetune_stage:FinetuneStage",
        "edit": "sine_bench.runner.edit_stage:EditStage",
        "score": "sine_bench.runner.scoring:ScoreStage",
        "import": "sine_bench.runner.import_stage:ImportStage",
    },
)


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

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self._model: Any = None
        self._trained: tuple[tuple[str, ...], list[Any]] | None = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from ..models.loading import load_model

            _quiet_hf_progress()
            spec = self.ctx.plan.protocol.model
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
        it (``Method.load_trained``); one is kept at a time. One damaged or gone since
        the fine-tune stage (``Store.check``) is trained again first."""
        return self.trained_together([key])[0]

    def trained_together(self, keys: list[str]) -> list[Any]:
        """The artifacts of ``keys`` loaded at once (one: ``Method.load_trained``; more:
        ``Method.load_together``, side by side), as ``trained`` checks them; one set is
        kept at a time."""
        from ..methods import get_method

        keys_t = tuple(keys)
        if self._trained is None or self._trained[0] != keys_t:
            self._trained = None  # free the previous ones before loading the next
            store, jobs = self.ctx.store, [self.ctx.plan.finetunes[k] for k in keys_t]
            if len({job.trainer for job in jobs}) != 1:
                raise ValueError(f"one unit edits with trainings of several methods: {keys_t}")
            for key, job in zip(keys_t, jobs, strict=True):
                if not store.check("finetunes", key):
                    STAGE_TYPES.get("fine-tune")(self.ctx).run_job(job)
            folders = [store.path("finetunes", key) for key in keys_t]
            method = get_method(jobs[0].trainer)
            model = self.model if method.needs_model else None
            if len(folders) == 1:
                loaded = [method.load_trained(folders[0], model)]
            else:
                loaded = method.load_together(folders, model)
            self._trained = (keys_t, loaded)
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
    group_score_keys: set[str] = field(default_factory=set)  # read by this run
    # per ``plan.reference_cells`` entry, {column label: value} (the score stage's)
    reference_scores: list[dict[str, float]] = field(default_factory=list)
    models: LoadedModels = field(init=False)

    def __post_init__(self) -> None:
        self.models = LoadedModels(self)

    def stage_stats(self, stage: str) -> StageStats:
        return self.stats.setdefault(stage, StageStats())

    def edit_image(self, key: str) -> Path:
        """The stored edit's PNG, checked; an edit damaged or gone since the edit stage
        (another process, a disk) is computed again with its unit (an edit made elsewhere
        is imported again from its file), never an input error."""
        if not self.store.check("edits", key):
            if key in self.plan.imported:
                STAGE_TYPES.get("import")(self).run_job(key)
            else:
                unit = next(u for u in self.plan.units if any(j.key == key for j in u.jobs))
                STAGE_TYPES.get("edit")(self).run_job(unit)
            if not self.store.check("edits", key):
                raise StoreDamaged(
                    f"store entry {self.store.path('edits', key)}: missing after computing "
                    "it again (check the store's disk, then rerun)"
                )
        return self.store.path("edits", key) / "edit.png"


@dataclass
class StageCall:
    """``stage``'s per-job function on ``ctx``: calling it runs one job."""

    stage: str
    ctx: RunContext

    def __call__(self, job: Any) -> Any:
        return STAGE_TYPES.get(self.stage)(self.ctx).run_job(job)

    def worker_run(self) -> WorkerRun:
        """What a worker in another process needs to rebuild this call's context."""
        from .. import __version__

        root = str(Path(self.ctx.store.root).resolve())
        return WorkerRun(self.ctx.plan, root, os.getcwd(), __version__)


@dataclass(frozen=True)
class WorkerRun:
    """A run as a worker rebuilds it: the plan, the store root (the same path on every
    node), the driver's working folder (relative paths in the plan mean it) and its
    sine-bench version (a worker with another one refuses)."""

    plan: RunPlan
    root: str
    cwd: str
    version: str

    def context(self) -> RunContext:
        from .. import __version__

        if self.version != __version__:
            raise ClusterError(
                f"worker has sine-bench {__version__}, the driver {self.version}: "
                "install the same version on every node"
            )
        if os.path.isdir(self.cwd):
            os.chdir(self.cwd)
        register_classes(self.plan.protocol.methods)  # as the driver's validation did
        return RunContext(self.plan, Store(self.root), LocalExecutor(progress=False))


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
