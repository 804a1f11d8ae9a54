"""``sine-bench toy ...``: train, evaluate and render the embedded toy world."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .contract import error_contract, fail

app = typer.Typer(help="The embedded toy world: train, evaluate, render.", no_args_is_help=True)


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Output root: OUT/sd (diffusers) and OUT/clip.")] = Path(
        "runs/toy-weights"
    ),
    stage: Annotated[str, typer.Option(help="all, sd or clip.")] = "all",
    quick: Annotated[bool, typer.Option(help="Tiny budget smoke run of every stage.")] = False,
    vae_steps: Annotated[int | None, typer.Option(help="Override VAE steps.")] = None,
    unet_steps: Annotated[int | None, typer.Option(help="Override UNet steps.")] = None,
    n_scenes: Annotated[int | None, typer.Option(help="Override training scene count.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recipe seed.")] = None,
) -> None:
    """Reproduce the toy weights from scratch (each stage resumes if interrupted).

    Writes what ships in sine_bench/toy/weights/: OUT/sd (the tiny Stable Diffusion,
    diffusers format) and OUT/clip (the toy CLIP evaluator).
    """
    if stage not in ("all", "sd", "clip"):
        fail(f"--stage: must be all, sd or clip, got {stage!r} (pick one of them)")
    with error_contract("finished stages and checkpoints are kept (rerun it to resume)"):
        results = _train(out, stage, quick, vae_steps, unet_steps, n_scenes, seed)
    typer.echo(json.dumps(results, indent=2))


def _train(out, stage, quick, vae_steps, unet_steps, n_scenes, seed) -> dict:
    from ..toy.train import ToyRecipe, train_toy_model, with_overrides

    results = {}
    if stage in ("all", "sd"):
        recipe = ToyRecipe.quick() if quick else ToyRecipe()
        recipe = with_overrides(
            recipe, vae_steps=vae_steps, unet_steps=unet_steps, n_scenes=n_scenes, seed=seed
        )
        results["sd"] = train_toy_model(out / "sd", recipe, out / "sd.work")
    if stage in ("all", "clip"):
        from ..toy.train_clip import SHIPPED_SCHEDULE, train_toy_clip

        schedule = (5,) if quick else SHIPPED_SCHEDULE  # later phases resume the earlier
        for steps in schedule:
            path = train_toy_clip(out / "clip", steps=steps, quick=quick, seed=seed or 0)
        results["clip"] = str(path)
    return results


@app.command("eval")
def evaluate(
    model: Annotated[str, typer.Option(help="toy, or a toy-format diffusers dir.")] = "toy",
    n: Annotated[int, typer.Option(help="Samples for text-to-image accuracy.")] = 200,
    steps: Annotated[int, typer.Option(help="DDIM steps.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    evaluators: Annotated[bool, typer.Option(help="Also measure toy CLIP and LPIPS.")] = True,
) -> None:
    """Measure the toy model (oracle on samples, VAE PSNR) and evaluators against their bars."""
    from ..models.loading import load_model
    from ..toy.evaluate import BARS, evaluate_toy_model

    with error_contract():
        loaded = load_model(model)
        results = evaluate_toy_model(loaded, n=n, steps=steps, progress=not as_json)
    bars = dict(BARS)
    if evaluators:
        from ..toy.evaluator_quality import BARS as EVAL_BARS
        from ..toy.evaluator_quality import evaluator_quality

        quality = evaluator_quality(n=min(n, 200))
        quality.pop("bars_met", None)
        quality["evaluator_n"] = quality.pop("n")
        results.update(quality)
        bars.update(EVAL_BARS)
    passed = {k: results[k] >= bar for k, bar in bars.items() if k in results}
    report = {
        "results": results,
        "bars": bars,
        "passed": passed,
        "all_bars_met": all(passed.values()),
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for key, value in results.items():
        mark = "" if key not in bars else ("  ok" if passed[key] else f"  BELOW bar {bars[key]}")
        typer.echo(
            f"{key:28s} {value:.4f}{mark}" if isinstance(value, float) else f"{key:28s} {value}"
        )


@app.command()
def render(
    seed: Annotated[int, typer.Option(help="Scene seed.")],
    out: Annotated[Path, typer.Option(help="PNG path.")],
    height: Annotated[int, typer.Option(help="Canvas height.")] = 64,
    width: Annotated[int, typer.Option(help="Canvas width.")] = 64,
) -> None:
    """Render one toy scene (laid out for the canvas aspect) and print its caption."""
    from PIL import Image

    from ..images import save_png_atomic
    from ..toy.scenes import random_scene
    from ..toy.scenes import render as render_scene

    if height < 1 or width < 1:
        fail(f"--height/--width: must be positive, got {height}x{width} (e.g. 64)")
    with error_contract():
        scene = random_scene(seed, aspect=width / height)
        save_png_atomic(Image.fromarray(render_scene(scene, height, width)), out)
    typer.echo(scene.caption())
