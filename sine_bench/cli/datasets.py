"""``sine-bench datasets check PATH``: what a dataset folder holds, as a protocol
would read it (``protocol.dataset``). Registered by ``app.py``."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from .contract import error_contract

app = typer.Typer(
    help="Inspect dataset folders (manifest.yaml, PIE-Bench, TEdBench, dataset.csv, "
    "MagicBrush, GEdit-Bench).",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="A dataset folder.")],
    format: Annotated[
        str | None, typer.Option("--format", help="Read it as this format (default: detect).")
    ] = None,
    types: Annotated[
        str | None, typer.Option("--types", help="Edit types to keep, e.g. 1,2 (PIE-Bench).")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="The split of a Hugging Face layout, e.g. dev.")
    ] = None,
) -> None:
    """Read the folder as a run would: its items, prompts, masks, targets, edit types and the
    content hash a run records; a malformed file is one line, exit 2. Derived files
    (decoded masks, cropped sources) go to a temporary folder, removed after."""
    from ..protocol.dataset import read_dataset
    from ..protocol.loading import parse_protocol

    spec: dict = {"path": str(path), "format": format, "split": split}
    if types is not None:
        spec["types"] = [t.strip() for t in types.split(",") if t.strip()]
    with error_contract(), tempfile.TemporaryDirectory(prefix="sine-bench-check-") as tmp:
        protocol = parse_protocol(
            {"name": "check", "dataset": spec, "store": tmp}, "datasets check"
        )
        dataset = read_dataset(protocol)
        items = [i.spec for i in dataset.items]
        edits = [(i, p) for i in dataset.items for p in i.spec.prompts]
        masked = sum(1 for item, prompt in edits if item.mask_for(prompt) is not None)
        targets = sum(1 for item, prompt in edits if item.target_for(prompt) is not None)
        instructed = sum(1 for i in items if i.prompt_kind == "instruction")
        kinds = Counter(i.edit_type for i in items if i.edit_type is not None)
        no_source = sum(1 for i in items if not i.source.strip() and i.prompt_kind == "caption")
    typer.echo(f"dataset    {dataset.source}")
    typer.echo(f"items      {len(items)}")
    typer.echo(f"prompts    {len(edits)} (item x prompt edits)")
    typer.echo(f"masks      {masked} of {len(edits)} edits")
    typer.echo(f"targets    {targets} of {len(edits)} edits (ground-truth images)")
    if kinds:
        listed = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
        typer.echo(f"edit types {listed}")
    if no_source:
        typer.echo(
            f"no source  {no_source} items have no source caption (ddim-inversion is "
            "refused on them)"
        )
    if instructed:
        typer.echo(
            f"instructed {instructed} items give instructions, not captions (caption-driven "
            "methods are refused on them)"
        )
    if dataset.preparation:
        typer.echo(f"prepared   {dataset.preparation}")
    typer.echo(f"content    sha256:{dataset.content_hash}")
