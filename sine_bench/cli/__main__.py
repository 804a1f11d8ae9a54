"""``python -m sine_bench.cli``: the same as the ``sine-bench`` command."""

from .app import main

main()
