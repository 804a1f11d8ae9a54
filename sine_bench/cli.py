"""The ``sine-bench`` command line.

Heavy libraries (torch, diffusers, ...) are imported inside the commands that need
them, so ``sine-bench --help`` starts instantly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="sine-bench",
    help="Evaluation and benchmark harness for SINE single-image text-guided editing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_toy() -> None:
    from .toy_cli import app as toy_app

    app.add_typer(toy_app, name="toy")


_register_toy()


def fail(message: str, code: int = 2) -> None:
    """One-line error on stderr and a non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


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
        fail(f"--mode must be sine-patch or sine-full, got {mode!r}")
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
    try:
        record = run_edit_job(job)
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as err:
        fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
    typer.echo(json.dumps({"out": str(out), "images": record["images"]}, indent=2))


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="sine-bench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
