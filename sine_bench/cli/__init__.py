"""The ``sine-bench`` command line: a typer app (``app.py``), the exit-code contract
(``contract.py``: InputError -> 2, EnvironmentFailure -> 1) and one module per command
group. The console entry point is ``sine_bench.cli:app``."""

from .app import app, main

__all__ = ["app", "main"]
