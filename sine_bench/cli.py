"""The ``sine-bench`` command line.

Heavy libraries (torch, diffusers, ...) are imported inside the commands that need
them, so ``sine-bench --help`` starts instantly. Every failure a user can cause or
meet is one line on stderr and an exit code (``cli_errors.py``, docs/errors.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_errors import RUN_RESUMES, error_contract, fail, warn
from .errors import EXIT_ENVIRONMENT, EnvironmentFailure, environment_message, one_line
from .protocol.cells import MAX_CELLS

app = typer.Typer(
    name="sine-bench",
    help="Evaluation and benchmark harness for SINE single-image text-guided editing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_subcommands() -> None:
    from .store_cli import app as store_app
    from .toy_cli import app as toy_app
    from .weights_cli import fetch_weights

    app.add_typer(store_app, name="store")
    app.add_typer(toy_app, name="toy")
    app.command("fetch-weights")(fetch_weights)


_register_subcommands()


@app.command()
def doctor() -> None:
    """Print versions, the compute device, and whether each optional backend imports."""
    from . import METHOD_VERSION, __version__
    from .environment import backend_status, device_description, git_commit, library_versions

    typer.echo(f"sine-bench {__version__} (method version {METHOD_VERSION})")
    typer.echo(f"git commit: {git_commit() or 'unknown (not a git checkout)'}")
    typer.echo("libraries:")
    for name, version in library_versions().items():
        typer.echo(f"  {name:18s} {version or 'NOT INSTALLED'}")
    typer.echo("device:")
    for key, value in device_description().items():
        typer.echo(f"  {key:18s} {value}")
    typer.echo("optional backends:")
    for label, status in backend_status().items():
        typer.echo(f"  {label:40s} {status}")


@app.command()
def edit(
    image: Annotated[Path, typer.Argument(help="Source image (PNG/JPEG).")],
    prompt: Annotated[list[str], typer.Option("--prompt", "-p", help="Edit prompt (repeatable).")],
    class_word: Annotated[str, typer.Option(help="Coarse class noun for the training prompt.")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/edit"),
    model: Annotated[str, typer.Option(help="tiny-random, toy, local dir or hub id.")] = "toy",
    template: Annotated[str, typer.Option(help="Training prompt template.")] = (
        "a photo of a sks {class_word}"
    ),
    mode: Annotated[str, typer.Option(help="sine-patch or sine-full.")] = "sine-patch",
    finetune_steps: Annotated[int, typer.Option(help="Fine-tune steps.")] = 800,
    lr: Annotated[float, typer.Option(help="Fine-tune learning rate.")] = 1e-6,
    grid: Annotated[
        int, typer.Option(help="Patch canvas side G in latent cells (0 = 2x native).")
    ] = 0,
    v: Annotated[float, typer.Option(help="Weight of the pretrained model in [0, 1].")] = 0.7,
    k: Annotated[int, typer.Option(help="Guide while timestep t > K (0..1000).")] = 400,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale w.")] = 7.5,
    steps: Annotated[int, typer.Option(help="DDIM sampling steps.")] = 100,
    height: Annotated[int, typer.Option(help="Output height (0 = native).")] = 0,
    width: Annotated[int, typer.Option(help="Output width (0 = native).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed for fine-tune and sampling.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
) -> None:
    """Fine-tune on one image and edit it with SINE; writes the source and edited PNGs."""
    from .edit_job import EditJob, run_edit_job

    if mode not in ("sine-patch", "sine-full"):
        fail(f"--mode: must be sine-patch or sine-full, got {mode!r} (pick one of them)")
    _check_edit_options(
        prompt,
        class_word,
        finetune=dict(steps=finetune_steps, lr=lr, prompt_template=template, patch_grid=grid),
        edit=dict(steps=steps, guidance=guidance, seed=seed),
        device=device,
    )
    job = EditJob(
        image=image,
        prompts=list(prompt),
        class_word=class_word,
        out=out,
        model=model,
        template=template,
        patches=(mode == "sine-patch"),
        finetune_steps=finetune_steps,
        lr=lr,
        grid=grid,
        v=v,
        k=k,
        guidance=guidance,
        steps=steps,
        height=height,
        width=width,
        seed=seed,
        device=device,
    )
    with error_contract("the edit is unfinished and edit.json unwritten (rerun the command)"):
        try:
            record = run_edit_job(job)
        except EnvironmentFailure:  # missing weights, a full disk: exit 1
            raise
        except FileNotFoundError as err:
            fail(one_line(err))
        except (ValueError, RuntimeError) as err:
            if environment_message(err) is not None:
                raise
            fail(one_line(err))
    typer.echo(json.dumps({"out": str(out), "images": record["images"]}, indent=2))


# the protocol field each `edit` option sets, for its error message
_EDIT_OPTIONS = {
    ("finetune", "steps"): "--finetune-steps",
    ("finetune", "lr"): "--lr",
    ("finetune", "prompt_template"): "--template",
    ("finetune", "patch_grid"): "--grid",
    ("edit", "steps"): "--steps",
    ("edit", "guidance"): "--guidance",
    ("edit", "seed"): "--seed",
    ("model", "device"): "--device",
}


def _check_edit_options(prompts, class_word, *, finetune: dict, edit: dict, device: str) -> None:
    """The `edit` command's options, checked by the protocol's own field rules."""
    from pydantic import ValidationError

    from .protocol.sections import EditSpec, FinetuneSpec, ModelSpec

    for index, text in enumerate(prompts):
        if not text.strip():
            fail(f"--prompt: prompt {index} is empty or only whitespace (give the edit's text)")
    if not class_word.strip():
        fail("--class-word: is empty or only whitespace (give a noun such as 'dog')")
    for section, spec, values in (
        ("finetune", FinetuneSpec, finetune),
        ("edit", EditSpec, edit),
        ("model", ModelSpec, {"device": device}),
    ):
        try:
            spec(**values)
        except ValidationError as err:
            first = err.errors()[0]
            option = _EDIT_OPTIONS[(section, str(first["loc"][0]))]
            fail(f"{option}: {first['msg'].removeprefix('Value error, ')} (see --help)")


@app.command()
def schema() -> None:
    """Print the protocol file's JSON Schema."""
    from .protocol.root import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


PLAN_LISTED = 50  # cells `plan` lists unless --all-cells: the summary must stay readable

_LARGE_GRID = typer.Option(
    "--large-grid",
    help="Plan a grid over 100,000 cells anyway (about 4 KB and 1 ms of planning a cell).",
)


@app.command()
def plan(
    protocol: Annotated[Path, typer.Argument(help="Protocol YAML file.")],
    cells: Annotated[bool, typer.Option(help="List the first 50 cells.")] = True,
    all_cells: Annotated[bool, typer.Option("--all-cells", help="List every cell.")] = False,
    large_grid: Annotated[bool, _LARGE_GRID] = False,
) -> None:
    """Show the grid's size and cost (cells, fine-tunes, cache status, UNet evaluations),
    then its fine-tunes and cells, and which pretrained weights are not cached (exit 1 if
    a run would need them); runs nothing."""
    from .protocol.dataset import resolve_dataset
    from .protocol.loading import load_protocol
    from .runner.weights_check import protocol_weights
    from .weights import MissingWeightsError, fetch_command

    max_cells = None if large_grid else MAX_CELLS
    with error_contract():
        from .protocol.cells import check_grid_size

        loaded = load_protocol(protocol)
        check_grid_size(loaded, resolve_dataset(loaded), max_cells)  # before anything heavy
        from .model_family import check_model

        check_model(loaded.model.name, loaded.model.revision)
        missing = [w for w in protocol_weights(loaded) if w.cached_path() is None]
        required = [w for w in missing if w.required]
        from .runner.run import plan_summary

        try:
            summary = plan_summary(loaded, max_cells)
        except MissingWeightsError:  # an uncached hub model: its geometry is unknown too
            raise MissingWeightsError(required, fetch_command(protocol)) from None
    for message in summary["warnings"]:
        warn(message)
    run_plan = summary["plan"]
    _echo_plan_summary(summary)
    _echo_finetunes(run_plan)
    from .runner.run import image_note_lines

    for line in image_note_lines(run_plan):
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
    from .runner.weights_check import optional_weight_note

    for weight in (w for w in missing if not w.required):
        typer.echo(optional_weight_note(weight, protocol))
    if required:
        fail(str(MissingWeightsError(required, fetch_command(protocol))), EXIT_ENVIRONMENT)


def _echo_plan_summary(summary: dict) -> None:
    """The plan's size and cost, printed before any listing."""
    run_plan = summary["plan"]
    typer.echo(f"protocol:    {run_plan.protocol.name} -> {run_plan.protocol.output_dir}")
    typer.echo(f"cells:       {summary['cells']}")
    typer.echo(
        f"fine-tunes:  {summary['finetunes']} ({summary['finetunes_cached']} cached), "
        f"{summary['finetune_steps']} training steps"
    )
    typer.echo(f"edits:       {summary['edits']} ({summary['edits_cached']} cached)")
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


def _echo_finetunes(run_plan) -> None:
    """One line per fine-tune: key, item, method, steps, prompt, cached or not."""
    from .methods import training_steps
    from .runner.store import Store

    store = Store(run_plan.protocol.store)
    for key, job in sorted(run_plan.finetunes.items(), key=lambda kv: (kv[1].item, kv[1].trainer)):
        method = job.trainer
        if job.trainer == "sine":
            kind = (bool(job.settings.get("lora")), bool(job.settings["patches"]))
            method = {(False, False): "sine-full", (False, True): "sine-patch"}.get(kind)
            method = method or ("sine-lora-patch" if kind[1] else "sine-lora")
        state = "cached" if store.done("finetunes", key) else "to run"
        typer.echo(
            f"fine-tune {key[:10]} {job.item:16s} {method} {training_steps(job)} steps  "
            f"{job.prompt!r}  [{state}]"
        )


def _preflight(protocol: Path, max_cells: int | None) -> None:
    """The checks that need no heavy import (protocol, grid size, model family, cached
    weights), so a run that cannot start says so in a second, not after torch loads."""
    from .model_family import check_model
    from .protocol.cells import check_grid_size
    from .protocol.dataset import resolve_dataset
    from .protocol.loading import load_protocol
    from .runner.weights_check import check_weights

    loaded = load_protocol(protocol)
    check_grid_size(loaded, resolve_dataset(loaded), max_cells)
    check_model(loaded.model.name, loaded.model.revision)
    check_weights(loaded, protocol)


@app.command()
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
) -> None:
    """Fine-tune, edit and score a protocol's grid; resumes from the store; writes the run
    directory (tables, plots, report.html)."""
    from .runner.executors import ExecutorError, JobsFailed, make_executor

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
            _preflight(protocol, max_cells)
            from .runner.run import run_protocol

            out = run_protocol(
                protocol,
                executor=runner,
                progress=progress,
                threads=threads,
                log=typer.echo,
                warn=warn,
                max_cells=max_cells,
            )
        except JobsFailed as err:
            for line in err.details():
                typer.echo(line, err=True)
            fail(str(err), code=EXIT_ENVIRONMENT)
        except ExecutorError as err:
            if isinstance(err, EnvironmentFailure):
                raise
            fail(one_line(err))
        finally:
            if runner is not None and hasattr(runner, "close"):
                runner.close()
    typer.echo(f"report: {out / 'report.html'}")


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Re-render report.html from a run directory's tables and plots."""
    from .report.html import write_report

    if not (run_dir / "manifest.json").is_file():
        fail(f"{run_dir}: not a run directory (no manifest.json; give a folder `run` wrote)")
    with error_contract():
        typer.echo(str(write_report(run_dir)))


@app.command()
def compare(
    run_dir: Annotated[Path, typer.Argument(help="The run directory to check.")],
    baseline: Annotated[
        Path | None,
        typer.Option(help="Baseline JSON or another run dir (default: the protocol's)."),
    ] = None,
    write_baseline: Annotated[
        bool, typer.Option("--write-baseline", help="Accept this run as the baseline.")
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Show unmoved metrics too.")] = False,
) -> None:
    """Exit 1 if any summary metric moved beyond its tolerance from the baseline."""
    from . import compare as gate

    with error_contract():
        gate.check_run_dir(run_dir)
        spec = gate.regression_spec(run_dir)
        target = baseline or (Path(spec.baseline) if spec.baseline else None)
        if target is None:
            fail("--baseline: none given and the run's protocol names none (give --baseline)")
        if write_baseline:
            typer.echo(f"baseline written: {gate.write_baseline(run_dir, target)}")
            return
        option = "--baseline" if baseline else "regression.baseline (the run's protocol)"
        run, base = gate.load_summary(run_dir), gate.load_summary(target, option)
        gate.check_comparable(run_dir, run, target, base)
        changes = gate.compare(run, base, spec)
    typer.echo(gate.format_table(changes, show_all))
    drifted = sum(c.drifted for c in changes)
    typer.echo(f"{len(changes)} metric values checked against {target}: {drifted} drifted")
    if drifted:
        raise typer.Exit(1)


@app.command("reproduce-report")
def reproduce_report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories to pool.")],
    out: Annotated[Path, typer.Option(help="Folder for reproduction.md/.json and plots.")] = Path(
        "runs/reproduction"
    ),
) -> None:
    """Test the paper's claims on finished runs: trends over K and v, duplication with
    and without patches, fine-tuned-only vs SINE vs pretrained, metric validity."""
    from .report.reproduction import ReproductionError
    from .report.reproduction import reproduce_report as analyse_runs

    with error_contract():
        try:
            analyse_runs(runs, out)
        except ReproductionError as err:
            fail(one_line(err))
    typer.echo((out / "reproduction.md").read_text())
    typer.echo(f"written: {out / 'reproduction.md'}, {out / 'reproduction.json'}")


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="sine-bench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
