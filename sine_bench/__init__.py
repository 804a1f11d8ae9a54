"""sine-bench: an evaluation and benchmark harness for SINE single-image editing."""

__version__ = "0.1.0"
# Bumped whenever a change to sine_bench.sine can change a pixel of a result:
# it is part of every cache key. A change that alters only some results enters only
# their keys instead (e.g. ``methods.preparation.input_preparation``: antialiased downscales and
# normalised decoding change only the fine-tunes that downscale or convert their input),
# so caches of everything it leaves bit-identical stay valid.
METHOD_VERSION = "1"


def _interrupted_while_starting(signum: int, _frame: object = None) -> None:
    """Ctrl-C while the `sine-bench` command line starts (imports, option parsing):
    nothing has been written yet, so say so and exit 130 like every interrupt
    (docs/errors.md). Each command's ``error_contract`` replaces this handler with one
    that unwinds, so what a command started is cleaned up."""
    import os

    os.write(2, b"interrupted (SIGINT): nothing was written (rerun the same command)\n")
    os._exit(128 + signum)


def _install_startup_interrupt() -> None:
    """Only in the `sine-bench` process itself, as early as it can run: a library user or
    a test importing the package keeps its own Ctrl-C."""
    import os
    import signal
    import sys

    if sys.argv and os.path.basename(sys.argv[0]) == "sine-bench":
        signal.signal(signal.SIGINT, _interrupted_while_starting)


_install_startup_interrupt()
