"""Run a protocol end to end: validate, run the three stages, write the run directory.

Before anything is computed, the validation pass (``validate.py``) has checked
everything it can; the run directory is written by ``run_dir.py`` and the costs in
its manifest counted by ``costs.py``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from .. import METHOD_VERSION, __version__
from ..errors import Interrupted
from ..methods import get_method, training_steps
from ..protocol.cells import axis_labels
from ..protocol.root import Protocol
from .context import RunContext
from .costs import evaluation_costs, method_costs
from .executors import Executor, make_executor
from .ownership import FORMAT as RUN_DIR_FORMAT
from .plan import MAX_CELLS, RunPlan, unet_evaluations
from .preflight import Preflight
from .run_dir import write_run_dir
from .scoring import score_keys
from .stages import run_stages
from .store import Store
from .validate import validate


def run_protocol(
    path: str | Path | Preflight,
    *,
    executor: Executor | None = None,
    progress: bool = True,
    threads: int = 0,
    log=print,
    warn=None,
    max_cells: int | None = MAX_CELLS,
) -> Path:
    """Run (or resume) a protocol; returns its run directory. The validation pass runs
    first, each check once (``path`` may be its ``Preflight``, run before the runner
    was imported, see ``preflight.py``). ``threads`` > 0 sets
    torch's CPU threads (1 is much faster on a machine shared with other jobs).
    ``warn`` gets each validation warning (default: ``log``). SIGINT or SIGTERM (where
    the caller turns it into ``Interrupted``) raises ``Interrupted`` saying what the
    store keeps. A grid over ``max_cells`` cells (None: no bound) is refused first."""
    started = time.perf_counter()
    ctx = None
    try:
        validated = validate(path, max_cells=max_cells)  # every check, before any training
        plan = validated.plan
        for line in limit_notes(plan) + image_note_lines(plan) + validated.notes:
            log(line)
        for warning in validated.warnings:
            (warn or log)(warning)
        runner = executor or make_executor("local", progress=progress)
        ctx = RunContext(plan, Store(plan.protocol.store, report=warn or log), runner)
        # `store gc` waits for no run: it refuses while one is live
        with torch_threads(threads), ctx.store.using():
            return _run(_protocol_file(path), ctx, validated.warnings, started, log)
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT, kept_summary(ctx)) from None
    except Interrupted as err:
        raise Interrupted(err.signum, kept_summary(ctx)) from None


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` (> 0) for the block, then restored."""
    if threads <= 0:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _protocol_file(path: str | Path | Preflight) -> Path | None:
    return path.path if isinstance(path, Preflight) else Path(path)


def kept_summary(ctx: RunContext | None) -> str:
    """What the store holds of this run's work (for the message on an interrupt)."""
    if ctx is None:
        return "nothing was computed yet"
    try:
        return _kept(ctx)
    except Exception:  # the store itself may be what failed: say less, never mask the signal
        return f"every finished entry is kept in store {str(ctx.store.root)!r}"


def _kept(ctx: RunContext) -> str:
    store, plan = ctx.store, ctx.plan
    finetunes = sum(store.done("finetunes", k) for k in plan.finetunes)
    edits = sum(store.done("edits", k) for k in plan.edits)
    cells = [*plan.cells, *plan.reference_cells]
    keys = [k for cell in cells for k in score_keys(plan, cell).values()]
    scores = sum(store.done("scores", k, ".json") for k in keys)
    return (
        f"kept {finetunes}/{len(plan.finetunes)} fine-tunes, {edits}/{len(plan.edits)} edits "
        f"and {scores}/{len(keys)} cell scores in store {str(store.root)!r}"
    )


def _run(path, ctx: RunContext, warnings: list[str], started: float, log) -> Path:
    from ..environment import device_description, git_commit, library_versions

    plan, store = ctx.plan, ctx.store
    protocol = plan.protocol
    commit = git_commit()  # the code this run starts with (cached per process)
    scores = run_stages(ctx, log)
    manifest = {
        "protocol": protocol.name,
        "protocol_file": str(path),
        "sine_bench": __version__,
        "method_version": METHOD_VERSION,
        "git_commit": commit,
        "libraries": library_versions(),
        "device": device_description() | {"requested": protocol.model.device},
        "model_identity": plan.model_id,
        "dataset": plan.dataset,
        "input_image_notes": plan.image_notes,
        "input_notes": plan.input_notes,
        "run_dir_format": RUN_DIR_FORMAT,  # such a folder is finished only with its marker
        "cells": len(plan.cells),
        "stages": {name: asdict(s) for name, s in ctx.stats.items()},
        "metric_backbones": ctx.backbones,
        "unet_evaluations": evaluation_costs(plan, store, ctx.stats),
        "methods": method_costs(plan, store),
        "finetune_memory_levers": memory_levers(plan),
        "all_cached": all(s.computed == 0 for s in ctx.stats.values()),
        "warnings": warnings,
    }
    out = protocol.output_dir
    manifest["seconds_total"] = time.perf_counter() - started
    write_run_dir(ctx, scores, manifest, out)
    from ..report.resolution import run_summary_lines

    for line in run_summary_lines(out, axis_labels(protocol)):
        log(line)
    log(f"run directory: {out}  ({time.perf_counter() - started:.1f} s)")
    return out


def limit_notes(plan: RunPlan) -> list[str]:
    """The line saying a run keeps only the dataset's first items (``dataset.limit``)."""
    limit = plan.dataset.get("limit")
    if not limit:
        return []
    return [
        f"note: dataset.limit {limit['requested']}: the first {limit['items']} of "
        f"{limit['of']} items only (a quick look; recorded as limited in manifest.json and "
        "results.json, never the protocol's baseline)"
    ]


def image_note_lines(plan: RunPlan) -> list[str]:
    """One line per source image that loading converted (alpha, orientation, ...), and
    one per item whose inputs are read in a way worth knowing (frames, masks)."""
    lines = [
        f"note: item {item!r} ({plan.items[item].image_path.name}): {'; '.join(notes)}"
        for item, notes in sorted(plan.image_notes.items())
    ]
    return lines + [
        f"note: item {item!r}: {'; '.join(notes)}"
        for item, notes in sorted(plan.input_notes.items())
    ]


def plan_summary(protocol: Protocol | Preflight, max_cells: int | None = MAX_CELLS) -> dict:
    """What ``run`` would do, without running: cells, fine-tunes, cache status, cost,
    and the validation pass's warnings. It raises what ``run`` would reject, except a
    metric backbone that cannot load here (``validate.WEIGHT_CHECKS``)."""
    validated = validate(protocol, load_weights=False, max_cells=max_cells)  # no backbone loads
    plan = validated.plan
    store = Store(plan.protocol.store)
    # cached = stored and sound (digest checked): a damaged entry is one a run recomputes
    ft_cached = {k for k in plan.finetunes if store.sound("finetunes", k)}
    ed_cached = {k for k in plan.edits if store.sound("edits", k)}
    units = {u.key: unet_evaluations(u.jobs) for u in plan.units}
    todo = [u for u in plan.units if not all(j.key in ed_cached for j in u.jobs)]
    return {
        "plan": plan,
        "warnings": validated.warnings,
        "finetunes": len(plan.finetunes),
        "finetunes_cached": len(ft_cached),
        "finetunes_damaged": sum(store.done("finetunes", k) for k in plan.finetunes)
        - len(ft_cached),
        "finetune_steps": sum(training_steps(j) for j in plan.finetunes.values()),
        "edits": len(plan.edits),
        "edits_cached": len(ed_cached),
        "edits_damaged": sum(store.done("edits", k) for k in plan.edits) - len(ed_cached),
        "cells": len(plan.cells),
        "edit_units": len(plan.units),
        "unet_evaluations": sum(c["shared"] for c in units.values()),
        "unet_evaluations_naive": sum(c["naive"] for c in units.values()),
        "unet_evaluations_todo": sum(units[u.key]["shared"] for u in todo),
        "methods": method_costs(plan, store),
    }


def memory_levers(plan: RunPlan) -> dict[str, list]:
    """The memory levers the plan's trainings use, as each training method reports them."""
    by_trainer: dict[str, list[dict]] = {}
    for job in plan.finetunes.values():
        by_trainer.setdefault(job.trainer, []).append(job.settings)
    levers: dict[str, list] = {}
    for trainer, settings in sorted(by_trainer.items()):
        levers |= get_method(trainer).memory_levers(settings)
    return levers
