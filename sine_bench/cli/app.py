"""The typer app: every command group registered on it, in the order ``--help`` lists.

Heavy libraries (torch, diffusers, ...) are imported inside the commands that need
them, so ``sine-bench --help`` starts instantly. Every failure a user can cause or
meet is one line on stderr and an exit code (``contract.py``, docs/errors.md).
"""

from __future__ import annotations

import typer

from . import contract, datasets, edit, info, results, runs, score, store, toy, weights

app = typer.Typer(
    name="sine-bench",
    help="Evaluation and benchmark harness for SINE single-image text-guided editing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _every_command() -> None:
    """Evaluation and benchmark harness for SINE single-image text-guided editing."""
    contract.quiet_library_logs()


app.add_typer(datasets.app, name="datasets")
app.add_typer(store.app, name="store")
app.add_typer(toy.app, name="toy")
app.command("fetch-weights")(weights.fetch_weights)
app.command()(info.doctor)
app.command()(edit.edit)
app.command()(info.schema)
app.command()(runs.plan)
app.command()(runs.run)
app.command()(score.score)
app.command("export-edits")(score.export_edits)
app.command()(results.report)
app.command()(results.compare)
app.command("reproduce-report")(results.reproduce_report)
app.command()(results.leaderboard)


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="sine-bench")
