"""``report``, ``compare`` and ``reproduce-report``: what is read from finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .contract import error_contract, fail


def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Re-render report.html from a run directory's tables and plots."""
    from ..report.html import write_report

    if not (run_dir / "manifest.json").is_file():
        fail(f"{run_dir}: not a run directory (no manifest.json; give a folder `run` wrote)")
    with error_contract():
        typer.echo(str(write_report(run_dir)))


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
    from .. import compare as gate

    with error_contract():
        gate.check_run_dir(run_dir)
        spec = gate.regression_spec(run_dir)
        target = baseline or (Path(spec.baseline) if spec.baseline else None)
        if target is None:
            fail("--baseline: none given and the run's protocol names none (give --baseline)")
        if write_baseline:
            # a limited run's baseline is a file named here, never the protocol's own
            own = Path(spec.baseline).resolve() if spec.baseline else None
            limited_ok = baseline is not None and baseline.resolve() != own
            typer.echo(f"baseline written: {gate.write_baseline(run_dir, target, limited_ok)}")
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


def reproduce_report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories to pool.")],
    out: Annotated[Path, typer.Option(help="Folder for reproduction.md/.json and plots.")] = Path(
        "runs/reproduction"
    ),
) -> None:
    """Test the paper's claims on finished runs: trends over K and v, duplication with
    and without patches, fine-tuned-only vs SINE vs pretrained, metric validity."""
    from ..report.reproduction import reproduce_report as analyse_runs

    with error_contract():
        analyse_runs(runs, out)
    typer.echo((out / "reproduction.md").read_text())
    typer.echo(f"written: {out / 'reproduction.md'}, {out / 'reproduction.json'}")


def leaderboard(
    runs: Annotated[list[Path], typer.Argument(help="Finished run directories.")],
    out: Annotated[Path, typer.Option(help="Folder for leaderboard.md/.html/.csv.")] = Path(
        "runs/leaderboard"
    ),
    per_setting: Annotated[
        bool, typer.Option("--per-setting", help="Every setting of each method, not its best.")
    ] = False,
    paper_scale: Annotated[
        bool,
        typer.Option(
            "--paper-scale",
            help="Scale as PIE-Bench's tables (structure, LPIPS x10^3; MSE x10^4; SSIM x10^2).",
        ),
    ] = False,
    metrics: Annotated[
        str | None, typer.Option(help="Comma-separated metric columns to show (default: all).")
    ] = None,
    rank: Annotated[
        str | None,
        typer.Option(help="Metric that picks each method's best setting (default: faithful)."),
    ] = None,
) -> None:
    """One table across runs and methods: per method its best setting (or every one),
    each metric with a 95% interval over source images, runs of other datasets labelled
    apart, and a per edit-type breakdown where the dataset has types (PIE-Bench)."""
    from ..report.leaderboard import build
    from ..report.leaderboard_render import to_markdown, write_leaderboard

    chosen = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    with error_contract():
        board = build(
            runs, metrics=chosen, rank=rank, per_setting=per_setting, paper_scale=paper_scale
        )
        written = write_leaderboard(board, out)
    typer.echo(to_markdown(board))
    typer.echo(f"written: {', '.join(str(p) for p in written)}")
