"""One image, end to end: fine-tune, edit with each prompt, write PNGs and a record.

The protocol runner (grids, caching, metrics) builds on the same pieces; this job
is the smallest complete use of the method and what ``sine-bench edit`` runs.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import METHOD_VERSION, __version__
from .environment import device_description, git_commit, library_versions
from .errors import InputError
from .images import frames_note, load_image_with_notes, save_png_atomic, write_text_atomic
from .models.loading import load_model
from .sine import FinetuneSettings, PatchSettings, finetune, save_finetune, sine_edit
from .sine.patches import default_patch_grid


@dataclass
class OneImageEdit:
    """The `edit` command's job: one image fine-tuned once, then edited with each prompt
    (not a protocol's ``methods.EditJob``, which is one keyed edit of a run)."""

    image: Path
    prompts: list[str]
    class_word: str
    out: Path
    model: str = "toy"
    template: str = "a photo of a sks {class_word}"
    patches: bool = True
    finetune_steps: int = 800
    lr: float = 1e-6
    grid: int = 0
    v: float = 0.7
    k: int = 400
    guidance: float = 7.5
    steps: int = 100
    height: int = 0
    width: int = 0
    seed: int = 0
    device: str = "auto"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "prompt"


def run_edit_job(job: OneImageEdit) -> dict:
    """Run the job; returns the record also written to ``out/edit.json``."""
    if not job.prompts:
        raise InputError("--prompt: at least one is required")
    if not 0.0 <= job.v <= 1.0:
        raise InputError(f"--v: v must be in [0, 1], got {job.v}")
    if not 0 <= job.k <= 1000:
        raise InputError(f"--k: K must be in [0, 1000], got {job.k}")
    source, input_notes = load_image_with_notes(job.image)
    input_notes = input_notes + frames_note(job.image)  # recorded, not a conversion
    model = load_model(job.model, device=job.device)
    height = job.height or model.native_resolution
    width = job.width or model.native_resolution
    model.check_resolution(height, width)
    grid = job.grid or default_patch_grid(model.native_resolution, model.vae_factor)
    settings = FinetuneSettings(
        steps=job.finetune_steps,
        learning_rate=job.lr,
        seed=job.seed,
        patches=PatchSettings(grid=grid) if job.patches else None,
    )
    train_prompt = job.template.format(class_word=job.class_word)
    timings = {}
    start = time.perf_counter()
    result = finetune(model, source, train_prompt, settings, progress=True)
    timings["finetune_s"] = time.perf_counter() - start
    save_finetune(result, job.out / "finetune")
    save_png_atomic((source[None] + 1) / 2, job.out / "source.png")

    images = []
    start = time.perf_counter()
    for i, prompt in enumerate(job.prompts):
        edited = sine_edit(
            model,
            result.model,
            prompt,
            v=job.v,
            k=job.k,
            guidance_scale=job.guidance,
            height=height,
            width=width,
            steps=job.steps,
            seed=job.seed,
            progress=True,
        )
        name = f"edit_{i:02d}_{_slug(prompt)}.png"
        save_png_atomic(edited, job.out / name)
        images.append({"prompt": prompt, "file": name})
    timings["edit_s"] = time.perf_counter() - start

    job_dict = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(job).items()}
    record = {
        "job": job_dict,
        "resolved": {"height": height, "width": width, "grid": grid, "train_prompt": train_prompt},
        "input_image_notes": input_notes,
        "finetune_final_loss": result.losses[-1] if result.losses else None,
        "images": images,
        "timings": timings,
        "sine_bench": __version__,
        "method_version": METHOD_VERSION,
        "git_commit": git_commit(),
        "libraries": library_versions(),
        "device": device_description() | {"torch_device": str(model.device)},
        "torch_deterministic": torch.are_deterministic_algorithms_enabled(),
    }
    write_text_atomic(json.dumps(record, indent=2), job.out / "edit.json")
    return record
