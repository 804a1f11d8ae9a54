"""``sine-bench fetch-weights``: the one command that fills the caches while online.

Registered by ``app.py``; heavy libraries load only inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def fetch_weights(
    protocol: Annotated[
        Path | None, typer.Argument(help="Protocol YAML: fetch everything it needs.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="A hub model id to fetch as well.")] = None,
    revision: Annotated[str, typer.Option(help="Revision of --model.")] = "main",
    metric: Annotated[
        list[str] | None, typer.Option(help="A metric whose backbone to fetch (repeatable).")
    ] = None,
) -> None:
    """Download every pretrained weight a protocol needs (SD checkpoint, OpenAI CLIP,
    torchvision LPIPS backbones) into the local caches, so plan and run work offline."""
    from ..errors import EnvironmentFailure, InputError, one_line
    from ..metrics.registry import metric_weights
    from ..model_family import cached_hub_family, check_family
    from ..protocol.loading import load_protocol
    from ..runner.weights_check import protocol_weights
    from ..weights import model_weights
    from .contract import error_contract

    with error_contract("weights fetched so far are kept in the caches (rerun to go on)"):
        loaded = load_protocol(protocol) if protocol else None
        weights = protocol_weights(loaded) if loaded else []
        weights += model_weights(model, revision) if model else []
        weights += metric_weights(list(metric or []))
        for w in (w for w in weights if w.kind == "hub-pipeline"):
            check_family(w.name, cached_hub_family(w.name, w.revision))
        if not weights:
            typer.echo("nothing to fetch: only shipped weights are needed")
        for weight in weights:
            path = weight.cached_path()
            if path is not None:
                typer.echo(f"cached   {weight.label}: {path}")
                continue
            typer.echo(f"fetching {weight.label} ...")
            try:
                path = weight.fetch()
            except (InputError, EnvironmentFailure):  # e.g. an SDXL repository: refused
                raise
            except Exception as err:  # network, permissions, disk: the library's message
                raise EnvironmentFailure(
                    f"{weight.label}: download failed ({type(err).__name__}: {one_line(err)})"
                ) from err
            typer.echo(f"fetched  {weight.label}: {path}")
