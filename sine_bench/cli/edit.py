"""``sine-bench edit``: fine-tune on one image and edit it, outside any protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .contract import error_contract, fail


def edit(
    image: Annotated[Path, typer.Argument(help="Source image (PNG/JPEG).")],
    prompt: Annotated[list[str], typer.Option("--prompt", "-p", help="Edit prompt (repeatable).")],
    class_word: Annotated[str, typer.Option(help="Coarse class noun for the training prompt.")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/edit"),
    model: Annotated[str, typer.Option(help="tiny-random, toy, local dir or hub id.")] = "toy",
    template: Annotated[str, typer.Option(help="Training prompt template.")] = (
        "a photo of a sks {class_word}"
    ),
    mode: Annotated[str, typer.Option(help="sine-patch or sine-full.")] = "sine-patch",
    finetune_steps: Annotated[int, typer.Option(help="Fine-tune steps.")] = 800,
    lr: Annotated[float, typer.Option(help="Fine-tune learning rate.")] = 1e-6,
    grid: Annotated[
        int, typer.Option(help="Patch canvas side G in latent cells (0 = 2x native).")
    ] = 0,
    v: Annotated[float, typer.Option(help="Weight of the pretrained model in [0, 1].")] = 0.7,
    k: Annotated[int, typer.Option(help="Guide while timestep t > K (0..1000).")] = 400,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale w.")] = 7.5,
    steps: Annotated[int, typer.Option(help="DDIM sampling steps.")] = 100,
    height: Annotated[int, typer.Option(help="Output height (0 = native).")] = 0,
    width: Annotated[int, typer.Option(help="Output width (0 = native).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed for fine-tune and sampling.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
) -> None:
    """Fine-tune on one image and edit it with SINE; writes the source and edited PNGs."""
    from ..edit_job import OneImageEdit, run_edit_job

    if mode not in ("sine-patch", "sine-full"):
        fail(f"--mode: must be sine-patch or sine-full, got {mode!r} (pick one of them)")
    _check_edit_options(
        prompt,
        class_word,
        finetune=dict(steps=finetune_steps, lr=lr, prompt_template=template, patch_grid=grid),
        edit=dict(steps=steps, guidance=guidance, seed=seed),
        device=device,
    )
    job = OneImageEdit(
        image=image,
        prompts=list(prompt),
        class_word=class_word,
        out=out,
        model=model,
        template=template,
        patches=(mode == "sine-patch"),
        finetune_steps=finetune_steps,
        lr=lr,
        grid=grid,
        v=v,
        k=k,
        guidance=guidance,
        steps=steps,
        height=height,
        width=width,
        seed=seed,
        device=device,
    )
    with error_contract("the edit is unfinished and edit.json unwritten (rerun the command)"):
        record = run_edit_job(job)
    typer.echo(json.dumps({"out": str(out), "images": record["images"]}, indent=2))


# the protocol field each `edit` option sets, for its error message
_EDIT_OPTIONS = {
    ("finetune", "steps"): "--finetune-steps",
    ("finetune", "lr"): "--lr",
    ("finetune", "prompt_template"): "--template",
    ("finetune", "patch_grid"): "--grid",
    ("edit", "steps"): "--steps",
    ("edit", "guidance"): "--guidance",
    ("edit", "seed"): "--seed",
    ("model", "device"): "--device",
}


def _check_edit_options(prompts, class_word, *, finetune: dict, edit: dict, device: str) -> None:
    """The `edit` command's options, checked by the protocol's own field rules."""
    from pydantic import ValidationError

    from ..protocol.sections import EditSpec, FinetuneSpec, ModelSpec

    for index, text in enumerate(prompts):
        if not text.strip():
            fail(f"--prompt: prompt {index} is empty or only whitespace (give the edit's text)")
    if not class_word.strip():
        fail("--class-word: is empty or only whitespace (give a noun such as 'dog')")
    for section, spec, values in (
        ("finetune", FinetuneSpec, finetune),
        ("edit", EditSpec, edit),
        ("model", ModelSpec, {"device": device}),
    ):
        try:
            spec(**values)
        except ValidationError as err:
            first = err.errors()[0]
            option = _EDIT_OPTIONS[(section, str(first["loc"][0]))]
            fail(f"{option}: {first['msg'].removeprefix('Value error, ')} (see --help)")
