"""How every command fails: one line on stderr and the exit code of docs/errors.md.

2: bad input (``InputError``); 1: the environment (``EnvironmentFailure``, and the
OSErrors libraries raise for disk, permissions, devices); 130 / 143: SIGINT / SIGTERM.
``error_contract`` wraps a command's body and maps those bases, no list of classes;
only a bug keeps its traceback.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from ..errors import (
    EXIT_ENVIRONMENT,
    EXIT_INPUT,
    EXIT_SIGNAL_BASE,
    EnvironmentFailure,
    InputError,
    Interrupted,
    environment_message,
    fix_hint,
    one_line,
    raise_interrupted,
)


def fail(message: str, code: int = EXIT_INPUT) -> None:
    """One-line error on stderr and a non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# Libraries that log a warning on import about something the user cannot act on here;
# each has a working fallback, and an unconfigured logger would print it on stderr,
# breaking the one-line contract. bitsandbytes (the [memory] extra): its CPU backend
# tries to fetch an optional 4-bit kernel from the Hugging Face hub on import.
QUIET_LOGGERS = ("bitsandbytes.backends.cpu.ops",)


def quiet_library_logs() -> None:
    """Keep known import-time library warnings (QUIET_LOGGERS) off stderr; errors still show."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


RUN_RESUMES = (
    "the run directory was not (re)written (rerun the same command to resume: nothing "
    "finished is recomputed)"
)
NOTHING_WRITTEN = "nothing was written (rerun the same command)"


@contextmanager
def error_contract(after_interrupt: str = NOTHING_WRITTEN) -> Iterator[None]:
    """Map every failure of a command to one line and its exit code (docs/errors.md);
    SIGTERM becomes ``Interrupted`` while the command runs, like SIGINT, and its line
    ends with ``after_interrupt`` (what is kept, how to go on)."""
    previous = previous_int = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, raise_interrupted)
        # Ctrl-C unwinds from here on (cleanup runs), whatever the start-up handler was
        previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except typer.Exit:
        raise
    except Interrupted as err:
        summary = f"{err.summary}; " if err.summary else ""
        typer.echo(f"interrupted ({err.signal_name}): {summary}{after_interrupt}", err=True)
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted (SIGINT): {after_interrupt}", err=True)
        raise typer.Exit(EXIT_SIGNAL_BASE + signal.SIGINT) from None
    except EnvironmentFailure as err:
        for line in err.details():
            typer.echo(line, err=True)
        fail(one_line(err), EXIT_ENVIRONMENT)
    except InputError as err:
        fail(one_line(err))
    except OSError as err:  # the machine: a file vanished, a device failed, ...
        message = environment_message(err)
        if message is None:
            where = err.filename or "a file"
            message = f"{where}: {err.strerror or one_line(err)} ({fix_hint(err.errno)})"
        fail(message, EXIT_ENVIRONMENT)
    except Exception as err:
        message = environment_message(err)  # e.g. safetensors' "(os error 28)"
        if message is None:
            raise  # a bug: keep the traceback
        fail(message, EXIT_ENVIRONMENT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)
