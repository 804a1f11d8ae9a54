"""The three stages, each a set of keyed jobs: fine-tune -> edit -> score.

Each stage is its own object over the run's ``RunContext`` (``finetune_stage``,
``edit_stage``, ``scoring``). A stage hands its executor a ``StageCall``: the stage's
name and the context, callable on one job. The local executor calls it; the Ray
executor ships the stage's name and a ``WorkerRun`` (plan, store root) once per
worker, which rebuilds the context there: an explicit job type, not a class looked up
by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .context import RunContext
from .edit_stage import EditStage
from .executors import LocalExecutor
from .finetune_stage import FinetuneStage
from .plan import RunPlan
from .scoring import ScoreStage
from .store import Store

STAGE_TYPES = {stage.name: stage for stage in (FinetuneStage, EditStage, ScoreStage)}


@dataclass
class StageCall:
    """``stage``'s per-job function on ``ctx``: calling it runs one job."""

    stage: str
    ctx: RunContext

    def __call__(self, job: Any) -> Any:
        return STAGE_TYPES[self.stage](self.ctx).run_job(job)

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
        from .executors import ClusterError

        if self.version != __version__:
            raise ClusterError(
                f"worker has sine-bench {__version__}, the driver {self.version}: "
                "install the same version on every node"
            )
        if os.path.isdir(self.cwd):
            os.chdir(self.cwd)
        return RunContext(self.plan, Store(self.root), LocalExecutor(progress=False))


def run_stages(ctx: RunContext, log=None) -> list[dict[str, float]]:
    """Fine-tune, edit and score everything the plan asks for; the score rows, per cell."""
    FinetuneStage(ctx).run()
    _log_stage(log, FinetuneStage.name, ctx)
    EditStage(ctx).run()
    _log_stage(log, EditStage.name, ctx)
    scores = ScoreStage(ctx).run()
    _log_stage(log, ScoreStage.name, ctx)
    return scores


def _log_stage(log, name: str, ctx: RunContext) -> None:
    if log is None:
        return
    s = ctx.stats[name]
    status = "all cached" if s.computed == 0 else f"{s.computed} computed"
    log(f"{name:10s} {s.total} jobs: {s.cached} cached, {status} ({s.seconds:.1f} s)")
