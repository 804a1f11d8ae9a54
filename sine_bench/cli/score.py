"""``score`` and ``export-edits``: edits made elsewhere, scored like a run's
(docs/plugins.md, "Scoring edits made elsewhere")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .contract import RUN_RESUMES, error_contract


def score(
    protocol: Annotated[Path, typer.Argument(help="Protocol YAML (dataset, metrics, output).")],
    edits: Annotated[
        Path,
        typer.Argument(
            help="Edits file: JSON lines of item, prompt, image (and method, seed, settings).",
        ),
    ],
    references: Annotated[
        bool,
        typer.Option(
            help="Compute the reference edits editability_gap, memorization and edit_score "
            "need from the protocol's model (--no-references: omit those metrics)."
        ),
    ] = True,
    progress: Annotated[bool, typer.Option(help="Progress bars per stage.")] = True,
    threads: Annotated[
        int, typer.Option(help="torch CPU threads (0 = torch's default; 1 on shared CPUs).")
    ] = 0,
) -> None:
    """Score edits made elsewhere on a protocol's dataset and metrics; writes the run
    directory `run` writes (tables, frontier, report.html), cached in the store."""
    from .contract import warn

    with error_contract(RUN_RESUMES):
        from ..runner.score_run import score_edits

        out = score_edits(
            protocol,
            edits,
            references=references,
            progress=progress,
            threads=threads,
            log=typer.echo,
            warn=warn,
        )
    typer.echo(f"report: {out / 'report.html'}")


def export_edits(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    out: Annotated[Path, typer.Argument(help="The edits file to write (.jsonl).")],
) -> None:
    """Write a run's edits as an edits file for `score` (image paths relative to it)."""
    with error_contract():
        from ..runner.export_edits import export_edits as write

        count = write(run_dir, out)
    typer.echo(f"{count} edits written: {out}")
