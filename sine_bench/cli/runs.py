"""``plan`` and ``run``: a protocol's jobs, shown or computed. Both start with the
validation pass's light layer (``runner.preflight``) before anything heavy loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import EXIT_ENVIRONMENT
from ..protocol.cells import MAX_CELLS
from .contract import RUN_RESUMES, error_contract, fail, warn

PLAN_LISTED = 50  # cells `plan` lists unless --all-cells: the summary must stay readable

_LIMIT = typer.Option(
    "--limit",
    help="A quick look: the first N items of the dataset (or a fraction such as 0.1), "
    "written to <output>-limit-N and recorded as limited.",
)
_LARGE_GRID = typer.Option(
    "--large-grid",
    help="Plan a grid over 100,000 cells anyway (about 4 KB and 1 ms of planning a cell).",
)


def plan(
    protocol: Annotated[Path, typer.Argument(help="Protocol YAML file.")],
    cells: Annotated[bool, typer.Option(help="List the first 50 cells.")] = True,
    all_cells: Annotated[bool, typer.Option("--all-cells", help="List every cell.")] = False,
    large_grid: Annotated[bool, _LARGE_GRID] = False,
    limit: Annotated[str | None, _LIMIT] = None,
) -> None:
    """Show the grid's size and cost (cells, fine-tunes, cache status, UNet evaluations),
    then its fine-tunes and cells, and which pretrained weights are not cached (exit 1 if
    a run would need them); runs nothing."""
    from ..runner.preflight import preflight
    from ..runner.weights_check import protocol_weights
    from ..weights import MissingWeightsError, fetch_command

    max_cells = None if large_grid else MAX_CELLS
    with error_contract():
        # output, grid size, model family: before anything heavy (weights: listed below)
        checked = preflight(protocol, weights=False, max_cells=max_cells, limit=_limit(limit))
        missing = [w for w in protocol_weights(checked.protocol) if w.cached_path() is None]
        required = [w for w in missing if w.required]
        from ..runner.run import plan_summary

        try:
            summary = plan_summary(checked)
        except MissingWeightsError:  # an uncached hub model: its geometry is unknown too
            raise MissingWeightsError(required, fetch_command(protocol)) from None
    for message in summary["warnings"]:
        warn(message)
    run_plan = summary["plan"]
    _echo_plan_summary(summary)
    from .plugins import protocol_lines

    for line in protocol_lines(run_plan.protocol):
        typer.echo(line)
    _echo_finetunes(run_plan)
    from ..runner.run import image_note_lines, limit_notes

    for line in limit_notes(run_plan) + image_note_lines(run_plan):
        typer.echo(line)
    if cells or all_cells:
        listed = run_plan.cells if all_cells else run_plan.cells[:PLAN_LISTED]
        for entry in listed:
            c = entry.cell
            axes = " ".join(f"{k}={v}" for k, v in c.axes)
            typer.echo(f"{c.item:16s} p{c.prompt_index} {c.height}x{c.width} {axes}  {c.prompt!r}")
        if len(listed) < len(run_plan.cells):
            more = len(run_plan.cells) - len(listed)
            typer.echo(f"... and {more:,} more cells (--all-cells lists every one)")
    from ..runner.weights_check import optional_weight_note

    for weight in (w for w in missing if not w.required):
        typer.echo(optional_weight_note(weight, protocol))
    if required:
        fail(str(MissingWeightsError(required, fetch_command(protocol))), EXIT_ENVIRONMENT)


def _limit(text: str | None) -> int | float | None:
    from ..protocol.loading import parse_limit

    return None if text is None else parse_limit(text)


def _echo_plan_summary(summary: dict) -> None:
    """The plan's size and cost, printed before any listing."""
    run_plan = summary["plan"]
    typer.echo(f"protocol:    {run_plan.protocol.name} -> {run_plan.protocol.output_dir}")
    typer.echo(f"cells:       {summary['cells']}")
    typer.echo(
        f"fine-tunes:  {summary['finetunes']} ({_cached(summary, 'finetunes')}), "
        f"{summary['finetune_steps']} training steps"
    )
    typer.echo(f"edits:       {summary['edits']} ({_cached(summary, 'edits')})")
    naive = summary["unet_evaluations_naive"]
    shared = summary["unet_evaluations"]
    typer.echo(
        f"UNet evals:  {shared} sampling with K-prefix sharing ({naive} edit by edit, "
        f"{naive / max(shared, 1):.2f}x; {summary['unet_evaluations_todo']} still to run) "
        f"+ {summary['finetune_steps']} fine-tune steps (one forward and backward each)"
    )
    typer.echo(f"edit units:  {summary['edit_units']} (sampler passes; see docs/performance.md)")
    for name, cost in summary["methods"].items():
        typer.echo(
            f"method {name}: {cost['cells']} cells; {cost['trainings']} trainings "
            f"({cost['trainings_cached']} cached), {cost['training_steps']} training steps; "
            f"{cost['edits']} edits, {cost['unet_evaluations']} UNet evals "
            f"({cost['unet_evaluations_naive']} edit by edit)"
        )
    backbones = sorted({m.text for m in run_plan.metrics if m.backbones()})
    if backbones:
        typer.echo(f"backbones:   {', '.join(backbones)} (loaded when run starts, before compute)")


def _cached(summary: dict, stage: str) -> str:
    """'3 cached', or '3 cached, 1 damaged (...)' when stored entries fail their digest."""
    text = f"{summary[f'{stage}_cached']} cached"
    damaged = summary[f"{stage}_damaged"]
    if damaged:
        text += f", {damaged} damaged (a run sets {'them' if damaged > 1 else 'it'} aside "
        text += "and recomputes)"
    return text


def _echo_finetunes(run_plan) -> None:
    """One line per fine-tune: key, item, method, steps, prompt, cached or not."""
    from ..methods import get_method, training_steps
    from ..runner.store import Store

    store = Store(run_plan.protocol.store)
    for key, job in sorted(run_plan.finetunes.items(), key=lambda kv: (kv[1].item, kv[1].trainer)):
        method = get_method(job.trainer).training_label(job.settings)
        if store.sound("finetunes", key):
            state = "cached"
        else:
            state = "damaged, to run" if store.done("finetunes", key) else "to run"
        typer.echo(
            f"fine-tune {key[:10]} {job.item:16s} {method} {training_steps(job)} steps  "
            f"{job.prompt!r}  [{state}]"
        )


def run(
    protocol: Annotated[Path, typer.Argument(help="Protocol YAML file.")],
    progress: Annotated[bool, typer.Option(help="Progress bars per stage.")] = True,
    threads: Annotated[
        int, typer.Option(help="torch CPU threads (0 = torch's default; 1 on shared CPUs).")
    ] = 0,
    executor: Annotated[
        str, typer.Option(help="local, or ray (needs sine-bench[ray]; docs/distributed.md).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster: auto, HOST:6379 or ray://HOST:10001 "
            "(default: $RAY_ADDRESS, else a new local cluster)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Ray workers at most (0 = as many as the cluster fits).")
    ] = 0,
    gpus_per_worker: Annotated[
        float | None,
        typer.Option(help="GPU share per Ray worker (default: 1 for a cuda protocol, else 0)."),
    ] = None,
    retries: Annotated[
        int, typer.Option(help="Retries of a job whose Ray worker died (then it is reported).")
    ] = 1,
    schedule_timeout: Annotated[
        float,
        typer.Option(help="Seconds a replacement Ray worker may take to start (then dropped)."),
    ] = 300.0,
    large_grid: Annotated[bool, _LARGE_GRID] = False,
    limit: Annotated[str | None, _LIMIT] = None,
) -> None:
    """Fine-tune, edit and score a protocol's grid; resumes from the store; writes the run
    directory (tables, plots, report.html)."""
    from ..runner.executors import make_executor
    from ..runner.preflight import preflight

    if executor != "ray" and (address or workers or gpus_per_worker is not None):
        fail("--address, --workers and --gpus-per-worker need --executor ray")
    runner = None
    with error_contract(RUN_RESUMES):
        try:
            if executor != "local":
                options = dict(address=address, workers=workers, num_gpus=gpus_per_worker)
                options |= dict(retries=retries, progress=progress, log=typer.echo)
                options |= dict(schedule_timeout=schedule_timeout)
                runner = make_executor(executor, **options)
            max_cells = None if large_grid else MAX_CELLS
            # output, grid size, model family, cached weights: a second, before torch loads
            checked = preflight(protocol, max_cells=max_cells, limit=_limit(limit))
            from ..runner.run import run_protocol

            out = run_protocol(
                checked,
                executor=runner,
                progress=progress,
                threads=threads,
                log=typer.echo,
                warn=warn,
            )
        finally:
            if runner is not None and hasattr(runner, "close"):
                runner.close()
    typer.echo(f"report: {out / 'report.html'}")
