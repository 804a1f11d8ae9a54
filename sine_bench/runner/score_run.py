"""``sine-bench score``: score edits made elsewhere and write a run directory.

The edits file (``edits_file``) is checked whole and the cells planned
(``score_plan``) before anything is computed. Then the import stage copies the edits
into the store, the fine-tune and edit stages compute the references the metrics ask
for (nothing else), and the score stage and the run directory writer are ``run``'s:
the same tables, summaries, frontier and report, which ``compare`` reads.
"""

from __future__ import annotations

import signal
import time
from dataclasses import asdict
from pathlib import Path

from .. import METHOD_VERSION, __version__
from ..errors import Interrupted
from ..fileio import file_sha256
from ..methods import training_steps
from ..metrics.registry import metric_weights
from ..weights import MissingWeightsError, fetch_command, model_weights
from .context import RunContext, edit_evaluations
from .executors import make_executor
from .import_stage import ImportStage
from .ownership import FORMAT as RUN_DIR_FORMAT
from .preflight import preflight
from .run import image_note_lines, kept_summary, torch_threads
from .run_dir import write_run_dir
from .score_plan import ScorePlan, build_score_plan
from .stages import run_stages
from .store import Store
from .validate import (
    check_backbones,
    check_derived_values,
    check_device,
    check_finetune_levers,
    check_output,
    check_prompts,
    check_store,
    check_targets,
)


def score_edits(
    protocol: str | Path,
    edits_file: str | Path,
    *,
    references: bool = True,
    progress: bool = True,
    threads: int = 0,
    log=print,
    warn=None,
) -> Path:
    """Score the edits file's edits on the protocol's dataset and metrics; returns the
    run directory (the protocol's ``output``). Every bad line, missing weight or
    unwritable location is raised before the first import."""
    from ..environment import git_commit

    started = time.perf_counter()
    git_commit()  # read at the start (cached per process): the code this run starts with
    checked = preflight(protocol, weights=False, max_cells=None)  # its grid is not used
    scored = build_score_plan(checked.protocol, Path(edits_file), references=references)
    plan = scored.plan
    _check_weights(scored, checked.path)
    checks = [check_targets, check_derived_values, check_device, check_finetune_levers]
    checks += [check_output]
    checks += [check_store, check_backbones] + ([check_prompts] if plan.edits else [])
    warnings = [w for check in checks for w in check(plan)]
    for line in image_note_lines(plan) + [f"note: {n}" for n in scored.notes]:
        log(line)
    for warning in warnings:
        (warn or log)(warning)
    store = Store(plan.protocol.store, report=warn or log)
    ctx = RunContext(plan, store, make_executor("local", progress=progress))
    try:
        with torch_threads(threads), store.using():
            ImportStage(ctx).run()
            s = ctx.stats[ImportStage.name]
            log(f"{'import':10s} {s.total} edits: {s.cached} cached, {s.computed} imported")
            scores = run_stages(ctx, log)
            manifest = _manifest(scored, ctx, checked.path, warnings)
            manifest["seconds_total"] = time.perf_counter() - started
            out = plan.protocol.output_dir
            write_run_dir(ctx, scores, manifest, out)
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT, kept_summary(ctx)) from None
    except Interrupted as err:
        raise Interrupted(err.signum, kept_summary(ctx)) from None
    from ..report.resolution import run_summary_lines

    for line in run_summary_lines(out, plan.axis_labels):
        log(line)
    log(f"run directory: {out}  ({time.perf_counter() - started:.1f} s)")
    return out


def _check_weights(scored: ScorePlan, protocol_path: Path | None) -> None:
    """The metrics' weights, and the model's when references are computed, are cached."""
    plan = scored.plan
    needed = metric_weights([m.text for m in plan.metrics])
    if plan.edits:
        needed = model_weights(plan.protocol.model.name, plan.protocol.model.revision) + needed
    required = [w for w in needed if w.required and w.cached_path() is None]
    if required:
        raise MissingWeightsError(required, fetch_command(protocol_path))


def _manifest(scored: ScorePlan, ctx: RunContext, path: Path | None, warnings: list) -> dict:
    from ..environment import device_description, git_commit, library_versions

    plan, store = scored.plan, ctx.store
    protocol = plan.protocol
    return {
        "protocol": protocol.name,
        "protocol_file": str(path),
        "edits_file": str(scored.edits_file),
        "edits_file_sha256": file_sha256(scored.edits_file),
        "edits": scored.lines,
        "sine_bench": __version__,
        "method_version": METHOD_VERSION,
        "git_commit": git_commit(),
        "libraries": library_versions(),
        "device": device_description() | {"requested": protocol.model.device},
        "model_identity": plan.model_id or None,  # None: no reference was computed
        "dataset": plan.dataset,
        "input_image_notes": plan.image_notes,
        "input_notes": plan.input_notes,
        "run_dir_format": RUN_DIR_FORMAT,
        "cells": len(plan.cells),
        "stages": {name: asdict(s) for name, s in ctx.stats.items()},
        "metric_backbones": ctx.backbones,
        "unet_evaluations": {  # the references' (the edits' own are not known here)
            "extra_edits": sum(edit_evaluations(store, j) for j in plan.edits.values()),
            "computed_this_run": ctx.stats["edit"].unet_evaluations,
            "finetune_steps": sum(training_steps(j) for j in plan.finetunes.values()),
        },
        "all_cached": all(s.computed == 0 for s in ctx.stats.values()),
        "notes": scored.notes,
        "warnings": warnings,
    }
