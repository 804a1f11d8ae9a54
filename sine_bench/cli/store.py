"""``sine-bench store verify`` and ``sine-bench store gc`` (runner/store_maintenance.py).

Registered by ``app.py``; heavy libraries never load here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import EXIT_ENVIRONMENT
from .contract import error_contract, fail

app = typer.Typer(
    help="Check a store's entries against their digests, or clean it.",
    no_args_is_help=True,
    add_completion=False,
)

StoreArg = Annotated[Path, typer.Argument(help="The store folder (a protocol's 'store').")]


@app.command()
def verify(
    store: StoreArg,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Quarantine damaged entries (the next run recomputes them) and record "
            "the digest of entries written before digests existed.",
        ),
    ] = False,
) -> None:
    """Hash every entry and compare it with the digest recorded when it was written;
    exit 1 if damaged entries remain."""
    from ..runner.store_maintenance import verify_store

    with error_contract():
        report = verify_store(store, repair=repair)
    for stage, counts in report.counts.items():
        total = sum(counts.values())
        parts = [f"{counts['ok']} ok"]
        if counts["legacy"]:
            done = "digest recorded" if repair else "no digest yet: --repair records it"
            parts.append(f"{counts['legacy']} sound ({done})")
        if counts["damaged"]:
            parts.append(f"{counts['damaged']} damaged")
        typer.echo(f"{stage:10s} {total} entries: {', '.join(parts)}")
    for path, problem in report.damaged:
        verb = "quarantined" if repair else "damaged"
        typer.echo(f"  {verb}: {path}: {problem}")
    if report.leftovers or report.quarantined:
        typer.echo(
            f"{report.leftovers} temp leftovers and {report.quarantined} quarantined entries "
            "(`sine-bench store gc` removes them)"
        )
    if report.damaged and not repair:
        fail(
            f"store {store}: {len(report.damaged)} damaged entries (rerun with --repair to "
            "set them aside; the next run computes them again)",
            EXIT_ENVIRONMENT,
        )


@app.command()
def gc(
    store: StoreArg,
    yes: Annotated[bool, typer.Option("--yes", help="Remove (default: only list).")] = False,
) -> None:
    """Remove temp leftovers of killed runs, quarantined entries and entries that no
    registered run directory lists (a dry run unless --yes)."""
    from ..runner.store_maintenance import gc_store

    with error_contract():
        report = gc_store(store, yes=yes)
    verb = "removed" if report.removed else "would remove"
    typer.echo(f"{len(report.leftovers)} temp leftovers")
    typer.echo(f"{len(report.quarantined)} quarantined entries")
    if report.kept_because:
        typer.echo(f"entries: none removed: {report.kept_because}")
    else:
        typer.echo(
            f"{len(report.unreferenced)} entries no run directory lists "
            f"({report.runs} run directories use this store)"
        )
    for path in report.leftovers + report.quarantined + report.unreferenced:
        typer.echo(f"  {path}")
    typer.echo(f"{verb} {report.bytes / 2**20:.1f} MiB" + ("" if yes else " (add --yes)"))
