"""Run a protocol end to end and write its run directory.

The run directory is assembled in a temporary sibling folder and swapped into place
at the end, so a failed or killed run never leaves a half-written one (the store
keeps every finished fine-tune, edit and score for the next attempt). Before any of
it, the validation pass (``validate.py``) has checked everything it can.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import yaml

from .. import METHOD_VERSION, __version__
from ..errors import EnvironmentFailure, Interrupted, environment_message
from ..fileio import apply_umask_modes, copy_file, make_temp_dir
from ..methods import training_steps
from ..protocol.cells import axis_labels
from ..protocol.loading import load_protocol
from ..protocol.root import Protocol
from .executors import Executor, make_executor
from .integrity import DIGEST_FILE
from .keys import digest
from .ownership import FORMAT as RUN_DIR_FORMAT
from .ownership import write_marker
from .plan import MAX_CELLS, RunPlan, unet_evaluations
from .stages import TIMING_FILE, Stages, edit_evaluations
from .store import Store, write_atomic
from .store_entries import register_run, sweep_run_dir_leftovers, write_store_entries
from .validate import check_output_dir, validate


def cells_frame(
    plan: RunPlan, scores: list[dict[str, float]], costs: list[dict] | None = None
) -> pd.DataFrame:
    """One row per cell: identity, its method, grid axes (empty where an axis is not its
    method's), keys, image path, cost (with ``methods``) and every metric."""
    axes = axis_labels(plan.protocol)
    costs = costs or [{} for _ in plan.cells]
    rows = []
    for entry, values, cost in zip(plan.cells, scores, costs, strict=True):
        cell = entry.cell
        row = {
            "cell_id": f"{cell.item}-p{cell.prompt_index}-{entry.edit[:10]}",
            "item": cell.item,
            "prompt_index": cell.prompt_index,
            "prompt": cell.prompt,
            "method": cell.method,
            **{axis: None for axis in axes},
            **cell.axis_dict,
            "height": cell.height,
            "width": cell.width,
            "source_size": _size_label(plan.image_sizes.get(cell.item)),
            "finetune_key": entry.finetune,
            "edit_key": entry.edit,
        }
        row["image"] = f"images/edits/{row['cell_id']}.png"
        rows.append(row | cost | values)
    return pd.DataFrame(rows)


def _size_label(hw: tuple[int, int] | None) -> str | None:
    """The source image's 'HxW' as loaded (oriented): what per-aspect tables group by."""
    return f"{hw[0]}x{hw[1]}" if hw else None


def cell_costs(plan: RunPlan, store: Store) -> list[dict]:
    """Per cell what its edit cost: training steps and seconds of the training it uses
    (NaN seconds when the store did not record them), its UNet evaluations alone, and
    its share of its edit unit's seconds."""
    trained: dict[str, dict] = {}
    for key, job in plan.finetunes.items():
        timing = store.path("finetunes", key) / TIMING_FILE
        seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else math.nan
        trained[key] = {"steps": training_steps(job), "seconds": seconds}
    costs = []
    for entry in plan.cells:
        job = plan.edits[entry.edit]
        meta = store.path("edits", entry.edit) / "edit.json"
        unit = json.loads(meta.read_text())["unit"] if meta.is_file() else {}
        train = trained.get(entry.finetune, {"steps": 0, "seconds": 0.0})
        costs.append(
            {
                "cost.train_steps": train["steps"],
                "cost.train_seconds": train["seconds"],
                "cost.unet_evaluations": edit_evaluations(store, job),
                "cost.edit_seconds": unit.get("seconds", math.nan) / max(unit.get("edits", 1), 1),
            }
        )
    return costs


def _swap_into_place(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_run_dir(
    plan: RunPlan, stages: Stages, scores: list[dict], manifest: dict, out: Path
) -> None:
    """Everything a run directory holds, then report.html, swapped in atomically (after
    sweeping what a killed write of the same output left); the store records the run."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with stages.store.lock("run-dirs", digest(str(out.absolute()))):  # one writer per output
        sweep_run_dir_leftovers(out)
        _write_run_dir(plan, stages, scores, manifest, out)
    register_run(stages.store, out)


def _write_run_dir(
    plan: RunPlan, stages: Stages, scores: list[dict], manifest: dict, out: Path
) -> None:
    from ..report.html import write_report
    from ..report.tables import metric_columns, write_tables

    tmp = make_temp_dir(out.parent, prefix=f".{out.name}.tmp-")
    try:
        costs = cell_costs(plan, stages.store) if plan.protocol.methods else None
        cells = cells_frame(plan, scores, costs)
        axes = axis_labels(plan.protocol)
        for item_id, item in plan.items.items():
            dest = tmp / "images" / "source" / f"{item_id}.png"
            dest.parent.mkdir(parents=True, exist_ok=True)
            _png_copy(item.image_path, dest)
        for entry, (_, row) in zip(plan.cells, cells.iterrows(), strict=True):
            dest = tmp / row["image"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():  # two cells with one edit key ('native' == 'source-aspect')
                copy_file(stages.edit_image(entry.edit), dest)
        resolved = plan.protocol.model_dump(mode="json")
        write_atomic(tmp / "protocol.yaml", yaml.safe_dump(resolved, sort_keys=False))
        write_tables(cells, axes, tmp)
        plots = _plots(stages.store, cells, metric_columns(cells, axes), axes, tmp / "plots")
        write_store_entries(tmp, stages, plots)
        manifest = manifest | {"axes": axes, "store_repairs": list(stages.store.repairs)}
        write_atomic(tmp / "manifest.json", json.dumps(manifest, indent=1, default=str))
        write_report(tmp)
        write_marker(tmp)  # last: it lists what the run wrote (ownership.py)
        apply_umask_modes(tmp)
        _swap_into_place(tmp, out)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        message = environment_message(err, where=f"run directory {out}")
        named = isinstance(err, EnvironmentFailure)  # e.g. a store entry, named already
        if message is not None and isinstance(err, Exception) and not named:
            raise EnvironmentFailure(message) from err
        raise


def _plots(
    store: Store, cells: pd.DataFrame, metrics: list[str], axes: list[str], out: Path
) -> str:
    """Plots are a pure function of the cells table: cached in the store under its hash
    (drawing them is the slowest part of an all-cached rerun)."""
    from ..report.plots import PLOTS_VERSION, write_plots

    csv = cells.to_csv(index=False)
    key = digest({"cells": csv, "metrics": metrics, "axes": axes, "v": PLOTS_VERSION})
    if not store.check("plots", key):  # checked: a damaged set is set aside and redrawn
        with store.lock("plots", key):
            if not store.done("plots", key):
                with store.write_dir("plots", key) as folder:
                    write_plots(cells, metrics, folder, axes)
    # copies (copytree's copy2), never links; the digest record stays in the store
    shutil.copytree(store.path("plots", key), out, ignore=shutil.ignore_patterns(DIGEST_FILE))
    return key


def _png_copy(src: Path, dest: Path) -> None:
    """Sources are re-encoded as PNG (as the fine-tune saw them: oriented, 8-bit sRGB, on
    white) so the report can inline them whatever their format."""
    from ..images import open_image

    open_image(src)[0].save(dest, format="PNG")


def run_protocol(
    path: str | Path,
    *,
    executor: Executor | None = None,
    progress: bool = True,
    threads: int = 0,
    log=print,
    warn=None,
    max_cells: int | None = MAX_CELLS,
) -> Path:
    """Run (or resume) a protocol; returns its run directory. ``threads`` > 0 sets
    torch's CPU threads (1 is much faster on a machine shared with other jobs).
    ``warn`` gets each validation warning (default: ``log``). SIGINT or SIGTERM
    (where the caller turns it into ``Interrupted``) raises ``Interrupted`` saying
    what the store keeps."""
    if threads > 0:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return run_protocol(
                path, executor=executor, progress=progress, log=log, warn=warn, max_cells=max_cells
            )
        finally:
            torch.set_num_threads(previous)
    from ..model_family import check_model
    from .weights_check import check_weights, optional_weight_note

    started = time.perf_counter()
    stages = None
    try:
        protocol = load_protocol(path)
        check_output_dir(protocol.output_dir)
        check_model(protocol.model.name, protocol.model.revision)  # e.g. SDXL: bad input first
        absent = check_weights(protocol, path)  # milliseconds; never the network
        # everything checkable, before the first training step
        validated = validate(protocol, max_cells=max_cells)
        plan = validated.plan
        for line in image_note_lines(plan) + [optional_weight_note(w, path) for w in absent]:
            log(line)
        for warning in validated.warnings:
            (warn or log)(warning)
        store = Store(plan.protocol.store, report=warn or log)
        stages = Stages(plan, store, executor or make_executor("local", progress=progress))
        with store.using():  # `store gc` waits for no run: it refuses while one is live
            return _run_stages(path, stages, validated.warnings, started, log)
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT, kept_summary(stages)) from None
    except Interrupted as err:
        raise Interrupted(err.signum, kept_summary(stages)) from None


def kept_summary(stages: Stages | None) -> str:
    """What the store holds of this run's work (for the message on an interrupt)."""
    if stages is None:
        return "nothing was computed yet"
    try:
        return _kept(stages)
    except Exception:  # the store itself may be what failed: say less, never mask the signal
        return f"every finished entry is kept in store {str(stages.store.root)!r}"


def _kept(stages: Stages) -> str:
    store, plan = stages.store, stages.plan
    finetunes = sum(store.done("finetunes", k) for k in plan.finetunes)
    edits = sum(store.done("edits", k) for k in plan.edits)
    keys = [k for cell in plan.cells for k in stages.score_keys(cell).values()]
    scores = sum(store.done("scores", k, ".json") for k in keys)
    return (
        f"kept {finetunes}/{len(plan.finetunes)} fine-tunes, {edits}/{len(plan.edits)} edits "
        f"and {scores}/{len(keys)} cell scores in store {str(store.root)!r}"
    )


def _run_stages(path, stages: Stages, warnings: list[str], started: float, log) -> Path:
    from ..environment import device_description, git_commit, library_versions

    plan, store = stages.plan, stages.store
    protocol = plan.protocol
    stages.finetune_all()
    _log_stage(log, "fine-tune", stages)
    stages.edit_all()
    _log_stage(log, "edit", stages)
    scores = stages.score_all()
    _log_stage(log, "score", stages)
    from ..sine.memory import levers_used

    planned = {
        "cells": sum(edit_evaluations(store, plan.edits[c.edit]) for c in plan.cells),
        "extra_edits": sum(
            edit_evaluations(store, j) for j in plan.edits.values() if j.kind != "cell"
        ),
        "grid_with_sharing": sum(unet_evaluations(u.jobs)["shared"] for u in plan.units),
        "computed_this_run": stages.stats["edit"].unet_evaluations,
        "finetune_steps": sum(training_steps(j) for j in plan.finetunes.values()),
    }
    manifest = {
        "protocol": protocol.name,
        "protocol_file": str(path),
        "sine_bench": __version__,
        "method_version": METHOD_VERSION,
        "git_commit": git_commit(),
        "libraries": library_versions(),
        "device": device_description() | {"requested": protocol.model.device},
        "model_identity": plan.model_id,
        "input_image_notes": plan.image_notes,
        "input_notes": plan.input_notes,
        "run_dir_format": RUN_DIR_FORMAT,  # such a folder is finished only with its marker
        "cells": len(plan.cells),
        "stages": {name: asdict(s) for name, s in stages.stats.items()},
        "metric_backbones": stages.backbones,
        "unet_evaluations": planned,
        "methods": method_costs(plan, store),
        "finetune_memory_levers": levers_used(
            j.settings for j in plan.finetunes.values() if j.trainer == "sine"
        ),
        "all_cached": all(s.computed == 0 for s in stages.stats.values()),
        "warnings": warnings,
    }
    out = protocol.output_dir
    manifest["seconds_total"] = time.perf_counter() - started
    write_run_dir(plan, stages, scores, manifest, out)
    from ..report.resolution import run_summary_lines

    for line in run_summary_lines(out, axis_labels(protocol)):
        log(line)
    log(f"run directory: {out}  ({time.perf_counter() - started:.1f} s)")
    return out


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


def _log_stage(log, name: str, stages: Stages) -> None:
    s = stages.stats[name]
    status = "all cached" if s.computed == 0 else f"{s.computed} computed"
    log(f"{name:10s} {s.total} jobs: {s.cached} cached, {status} ({s.seconds:.1f} s)")


def plan_summary(protocol: Protocol, max_cells: int | None = MAX_CELLS) -> dict:
    """What ``run`` would do, without running: cells, fine-tunes, cache status, cost,
    and the validation pass's warnings. It raises what ``run`` would reject, except a
    metric backbone that cannot load here (``validate.WEIGHT_CHECKS``)."""
    validated = validate(protocol, load_weights=False, max_cells=max_cells)  # no backbone loads
    plan = validated.plan
    store = Store(protocol.store)
    ft_cached = sum(store.done("finetunes", k) for k in plan.finetunes)
    ed_cached = sum(store.done("edits", k) for k in plan.edits)
    units = {u.key: unet_evaluations(u.jobs) for u in plan.units}
    todo = [u for u in plan.units if not all(store.done("edits", j.key) for j in u.jobs)]
    return {
        "plan": plan,
        "warnings": validated.warnings,
        "finetunes": len(plan.finetunes),
        "finetunes_cached": ft_cached,
        "finetune_steps": sum(training_steps(j) for j in plan.finetunes.values()),
        "edits": len(plan.edits),
        "edits_cached": ed_cached,
        "cells": len(plan.cells),
        "edit_units": len(plan.units),
        "unet_evaluations": sum(c["shared"] for c in units.values()),
        "unet_evaluations_naive": sum(c["naive"] for c in units.values()),
        "unet_evaluations_todo": sum(units[u.key]["shared"] for u in todo),
        "methods": method_costs(plan, store),
    }


def method_costs(plan: RunPlan, store: Store) -> dict[str, dict]:
    """Per method, in protocol order: its cells, the trainings its cells use (steps,
    cached) and the UNet evaluations of its cells' edits (as units, and edit by edit);
    references and memorized samples that metrics add are not counted here."""
    from .plan import edit_units

    out: dict[str, dict] = {}
    for name in dict.fromkeys(c.cell.method for c in plan.cells):
        cells = [c for c in plan.cells if c.cell.method == name]
        trainings = {c.finetune for c in cells if c.finetune}
        jobs = [plan.edits[k] for k in dict.fromkeys(c.edit for c in cells)]
        counts = [unet_evaluations(u.jobs) for u in edit_units(jobs)]
        out[name] = {
            "cells": len(cells),
            "trainings": len(trainings),
            "trainings_cached": sum(store.done("finetunes", k) for k in trainings),
            "training_steps": sum(training_steps(plan.finetunes[k]) for k in trainings),
            "edits": len(jobs),
            "unet_evaluations": sum(c["shared"] for c in counts),
            "unet_evaluations_naive": sum(c["naive"] for c in counts),
        }
    return out
