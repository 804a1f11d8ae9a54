"""The run directory: assembled in a temporary sibling folder and swapped into place.

A failed or killed run never leaves a half-written run directory (the store keeps
every finished fine-tune, edit and score for the next attempt). What it holds:
README.md, "Commands" (the `run` row).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import yaml

from ..errors import EnvironmentFailure, environment_message
from ..fileio import apply_umask_modes, copy_file, make_temp_dir, write_atomic
from .context import RunContext
from .costs import cell_costs
from .integrity import DIGEST_FILE
from .keys import digest
from .ownership import write_marker
from .plan import RunPlan
from .results_files import write_results_files
from .store import Store
from .store_entries import register_run, sweep_run_dir_leftovers, write_store_entries


def cells_frame(
    plan: RunPlan, scores: list[dict[str, float]], costs: list[dict] | None = None
) -> pd.DataFrame:
    """One row per cell: identity, its method, grid axes (empty where an axis is not its
    method's), keys, image path, cost (with ``methods``) and every metric."""
    axes = plan.axis_labels
    costs = costs or [{} for _ in plan.cells]
    # the dataset's edit category (PIE-Bench's types), a column only where items have one
    typed = any(item.spec.edit_type is not None for item in plan.items.values())
    rows = []
    for entry, values, cost in zip(plan.cells, scores, costs, strict=True):
        cell = entry.cell
        row = {
            "cell_id": f"{cell.item}-p{cell.prompt_index}-{entry.edit[:10]}",
            "item": cell.item,
            "prompt_index": cell.prompt_index,
            "prompt": cell.prompt,
            **({"edit_type": plan.items[cell.item].spec.edit_type} if typed else {}),
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


def _swap_into_place(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_run_dir(ctx: RunContext, scores: list[dict], manifest: dict, out: Path) -> None:
    """Everything a run directory holds, then report.html, swapped in atomically (after
    sweeping what a killed write of the same output left); the store records the run."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with ctx.store.lock("run-dirs", digest(str(out.absolute()))):  # one writer per output
        register_run(ctx.store, out)  # first: gc finds what a killed write leaves
        sweep_run_dir_leftovers(out)
        _write_run_dir(ctx, scores, manifest, out)


def _write_run_dir(ctx: RunContext, scores: list[dict], manifest: dict, out: Path) -> None:
    from ..report.html import write_report
    from ..report.tables import metric_columns, write_tables

    plan = ctx.plan
    tmp = make_temp_dir(out.parent, prefix=f".{out.name}.tmp-")
    try:
        # edits made elsewhere cost nothing this harness knows: no cost columns
        priced = plan.protocol.methods and not plan.imported
        costs = cell_costs(plan, ctx.store) if priced else None
        cells = cells_frame(plan, scores, costs)
        axes = plan.axis_labels
        for item_id, item in plan.items.items():
            dest = tmp / "images" / "source" / f"{item_id}.png"
            dest.parent.mkdir(parents=True, exist_ok=True)
            _png_copy(item.image_path, dest)
        for entry, (_, row) in zip(plan.cells, cells.iterrows(), strict=True):
            dest = tmp / row["image"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():  # two cells with one edit key ('native' == 'source-aspect')
                copy_file(ctx.edit_image(entry.edit), dest)
        references = _write_references(ctx, tmp)
        resolved = plan.protocol.model_dump(mode="json")
        write_atomic(tmp / "protocol.yaml", yaml.safe_dump(resolved, sort_keys=False))
        write_tables(cells, axes, tmp, references)
        metrics = metric_columns(cells, axes)
        plots = _plots(ctx.store, cells, metrics, axes, tmp / "plots", references)
        write_store_entries(tmp, ctx, plots)
        manifest = manifest | {"axes": axes, "store_repairs": list(ctx.store.repairs)}
        if references is not None:
            manifest["references"] = reference_record(references)
        write_atomic(tmp / "manifest.json", json.dumps(manifest, indent=1, default=str))
        write_results_files(plan, manifest, cells, axes, metric_columns(cells, axes), tmp)
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


def _write_references(ctx: RunContext, tmp: Path) -> pd.DataFrame | None:
    """references.csv and its images (copies), for a run with reference cells."""
    from .reference_cells import REFERENCES_FILE, references_frame

    if not ctx.plan.reference_cells:
        return None
    frame = references_frame(ctx.plan, ctx.reference_scores)
    for entry, image in zip(ctx.plan.reference_cells, frame["image"], strict=True):
        dest = tmp / image
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            copy_file(ctx.edit_image(entry.edit), dest)
    write_atomic(tmp / REFERENCES_FILE, frame.to_csv(index=False))
    return frame


def reference_record(references: pd.DataFrame) -> dict:
    """What the manifest and results.json say of references.csv."""
    from .reference_cells import REFERENCES_FILE

    roles = references["role"].value_counts().sort_index()
    return {
        "file": REFERENCES_FILE,
        "rows": len(references),
        "roles": {str(role): int(n) for role, n in roles.items()},
        "note": "the run's fine-tuned-only / pretrained-only samples scored as cells; "
        "not grid settings, never in cells.csv or summary.json",
    }


def _plots(
    store: Store,
    cells: pd.DataFrame,
    metrics: list[str],
    axes: list[str],
    out: Path,
    references: pd.DataFrame | None = None,
) -> str:
    """Plots are a pure function of the cells table (and a methods run's references):
    cached in the store under their hash (drawing them is the slowest part of an
    all-cached rerun)."""
    from ..report.plots import PLOTS_VERSION, write_plots

    csv = cells.to_csv(index=False)
    ident = {"cells": csv, "metrics": metrics, "axes": axes, "v": PLOTS_VERSION}
    if references is not None:  # only then: every other run's plots keep their key
        ident["references"] = references.to_csv(index=False)
    key = digest(ident)
    if not store.check("plots", key):  # checked: a damaged set is set aside and redrawn
        with store.lock("plots", key):
            if not store.done("plots", key):
                with store.write_dir("plots", key) as folder:
                    write_plots(cells, metrics, folder, axes, references)
    # copies (copytree's copy2), never links; the digest record stays in the store
    shutil.copytree(store.path("plots", key), out, ignore=shutil.ignore_patterns(DIGEST_FILE))
    return key


def _png_copy(src: Path, dest: Path) -> None:
    """Sources are re-encoded as PNG (as the fine-tune saw them: oriented, 8-bit sRGB, on
    white) so the report can inline them whatever their format."""
    from ..images import open_image

    open_image(src)[0].save(dest, format="PNG")
