"""The three stages, each a set of keyed jobs: fine-tune -> edit -> score.

Each stage is its own object over the run's ``RunContext`` (``finetune_stage``,
``edit_stage``, ``scoring``). A stage hands its executor a ``StageCall``: the stage's
name and the context, callable on one job. The local executor calls it; the Ray
executor ships the stage's name and a ``WorkerRun`` (plan, store root) once per
worker, which rebuilds the context there: an explicit job type. ``StageCall``,
``WorkerRun`` and the stage types by name live in ``context``, below the stages.
"""

from __future__ import annotations

from .context import RunContext
from .edit_stage import EditStage
from .finetune_stage import FinetuneStage
from .scoring import ScoreStage


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
