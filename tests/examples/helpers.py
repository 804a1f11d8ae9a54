"""The example plug-in package (examples/sine-bench-examples): installed in CI (the
README's test command), skipped with the reason elsewhere."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, distribution

import pytest

DISTRIBUTION = "sine-bench-examples"
NPI = "negative-prompt-inversion"


def require_examples() -> None:
    """Skip (fail in CI, where the README installs it) when the package is missing."""
    try:
        distribution(DISTRIBUTION)
    except PackageNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{DISTRIBUTION} is not installed: pip install -e examples/{DISTRIBUTION}")
