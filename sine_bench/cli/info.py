"""``doctor`` and ``schema``: what this install is, and the protocol file's schema."""

from __future__ import annotations

import json

import typer


def doctor() -> None:
    """Print versions, the compute device, whether each optional backend imports, and
    the plug-ins installed packages add (and where from)."""
    from .. import METHOD_VERSION, __version__
    from ..environment import backend_status, device_description, git_commit, library_versions

    typer.echo(f"sine-bench {__version__} (method version {METHOD_VERSION})")
    typer.echo(f"git commit: {git_commit() or 'unknown (not a git checkout)'}")
    typer.echo("libraries:")
    for name, version in library_versions().items():
        typer.echo(f"  {name:18s} {version or 'NOT INSTALLED'}")
    typer.echo("device:")
    for key, value in device_description().items():
        typer.echo(f"  {key:18s} {value}")
    typer.echo("optional backends:")
    for label, status in backend_status().items():
        typer.echo(f"  {label:40s} {status}")
    from .plugins import found_lines

    for line in found_lines():
        typer.echo(line)


def schema() -> None:
    """Print the protocol file's JSON Schema."""
    from ..protocol.root import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
