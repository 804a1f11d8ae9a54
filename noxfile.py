"""Developer sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s bench``."""

import sys

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test,ray]", "-e", "examples/sine-bench-examples")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "sine_bench")


BENCHMARKS = (
    "k_sweep",
    "multi_image",
    "harness_overhead",
    "finetune_step",
    "toy_train_step",
    "real_scale",
)


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark under benchmarks/ (printing ratios measured in one run each);
    extra arguments (e.g. ``-- --device cuda --threads 2``) go to every script.
    real_scale (the SD-1.5 UNet at 512x512) takes ~15 min on a 2-core CPU."""
    python = "python"
    if session.venv_backend == "none":  # `nox -s bench --no-venv`: nox's own environment
        python = sys.executable
    else:
        session.install("-e", ".")
    for name in BENCHMARKS:
        session.run(python, "-m", f"benchmarks.{name}", *session.posargs)


@nox.session(name="real-arch")
def real_arch(session: nox.Session) -> None:
    """A full-size SD-1.5-architecture directory (random weights, no download) through
    ``sine-bench run``: time and peak memory per stage (~8 min on a 2-core CPU, 6 GiB;
    not in CI). Extra arguments go to the script, e.g. ``-- --device cuda --dtype
    bfloat16 --native 512 --resolution 512x512 --methods sine-patch,sine-lora-patch``."""
    python = "python"
    if session.venv_backend == "none":
        python = sys.executable
    else:
        session.install("-e", ".")
    session.run(python, "-m", "benchmarks.real_arch_e2e", *session.posargs)


@nox.session(name="gpu-check")
def gpu_check(session: nox.Session) -> None:
    """Fine-tune and edit time and peak memory at 512x512 for sine-patch and
    sine-lora-patch in float32, bfloat16 and float16, with and without the memory levers
    (benchmarks/gpu_check.py; a few minutes on one GPU). Extra arguments go to the
    script; ``-- --device cpu --tiny`` is the CI form."""
    python = "python"
    if session.venv_backend == "none":
        python = sys.executable
    else:
        session.install("-e", ".[memory]")
    session.run(python, "-m", "benchmarks.gpu_check", *session.posargs)
