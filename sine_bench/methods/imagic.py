"""``imagic`` (Kawar et al., CVPR 2023): optimise a text embedding to reconstruct the
source (model frozen), fine-tune the UNet on the source with that embedding, then edit
with the fine-tuned UNet prompted by ``eta * e_target + (1 - eta) * e_optimised``.

Its training depends on the target prompt (the embedding starts from it), so it is one
per (image, prompt), stored under its own key (image, model, target prompt and these
settings), never SINE's. Both stages use Adam on the noise-prediction loss with the
source's VAE posterior mean at the native size; the text encoder is not trained.
eta = 0 asks for the source, eta = 1 for the target text; diffusers' community
pipeline calls eta 'alpha' and samples at 1.2 by default. Editing: 2 UNet evaluations
per DDIM step (the empty prompt by the pretrained text encoder, and the interpolated
embedding), 1 at guidance 1.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from .base import CellContext, Edit, EditJob, Knob, Method, PlannedCell, Training, sampling_settings

TRAINING_KNOBS = ("embed_steps", "embed_lr", "finetune_steps", "finetune_lr")
RECORD = "imagic.json"
EMBEDDINGS = "embeddings.safetensors"


class Imagic(Method):
    """Optimise a text embedding, fine-tune with it, interpolate towards the target."""

    name = "imagic"
    trains = "its own embedding + UNet fine-tune per (image, target prompt), under its own key"
    # defaults: diffusers' community Imagic pipeline for Stable Diffusion
    knobs = (
        Knob("eta", float, 0.7, 0.0, 2.0, "weight of the target embedding (0 = the source)"),
        Knob("embed_steps", int, 500, 0, 100_000, "text-embedding optimisation steps"),
        Knob("embed_lr", float, 1e-3, 0.0, 1.0, "its Adam learning rate"),
        Knob("finetune_steps", int, 1000, 0, 100_000, "UNet fine-tune steps"),
        Knob("finetune_lr", float, 2e-6, 0.0, 1.0, "its Adam learning rate"),
    )

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        settings = {"method": self.name, "version": self.version, "seed": ctx.cell.finetune.seed}
        settings |= {k: ctx.knob(k) for k in TRAINING_KNOBS}
        native = (ctx.native, ctx.native)  # train() encodes the source at the native size
        training = Training(ctx.cell.prompt, settings, trainer=self.name, input_size=native)
        edit_settings = {
            "method": self.name,
            "version": self.version,
            "imagic_eta": ctx.knob("eta"),
        }
        edit_settings |= sampling_settings(ctx.cell, batched=False)
        edit = Edit("cell", ctx.cell.prompt, edit_settings, "training", self.name)
        return PlannedCell(edit, training)

    def training_steps(self, settings: dict) -> int:
        return int(settings["embed_steps"]) + int(settings["finetune_steps"])

    def train(self, model, image, job, folder: Path) -> None:
        """Both stages in float32 (the embedding, a float32 UNet copy and Adam's state),
        under autocast on a half-precision base, as SINE's fine-tune (``sine.precision``).
        A LoRA fine-tune trained just before stays attached to the base UNet: detached
        first (as SINE's next fine-tune does), so the copy is the plain pretrained UNet."""
        import copy

        import torch
        from safetensors.torch import save_file

        from ..sine.lora import detach_lora
        from ..sine.precision import MixedPrecision
        from . import steps

        detach_lora(model.unet)
        model.unet.eval().requires_grad_(False)

        s = job.settings
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(s["seed"])
        native = model.native_resolution
        x0 = steps.source_latent(model, image.to(model.device), native, native).float()
        with torch.no_grad():
            target = model.encode_text([job.prompt]).float()
        embedding = target.clone().requires_grad_(True)
        losses = {}
        optimise = _Optimiser(model, x0, generator, MixedPrecision(model.dtype, model.device))
        losses["embed"] = optimise(
            model.unet, [embedding], embedding, s["embed_steps"], s["embed_lr"]
        )
        embedding = embedding.detach()
        unet = copy.deepcopy(model.unet).float().train().requires_grad_(True)
        losses["finetune"] = optimise(
            unet, list(unet.parameters()), embedding, s["finetune_steps"], s["finetune_lr"]
        )
        unet.eval().requires_grad_(False)
        unet.save_pretrained(folder / "unet")
        tensors = {"target": target, "optimised": embedding}
        save_file({k: v.cpu().contiguous() for k, v in tensors.items()}, folder / EMBEDDINGS)
        record = {"prompt": job.prompt, "settings": s, "losses": losses}
        record["seconds"] = time.perf_counter() - start
        (folder / RECORD).write_text(json.dumps(record, indent=1))

    def load_trained(self, folder: Path, model):
        """The UNet and embeddings as trained (float32; ``steps.predict`` casts)."""
        import torch
        from diffusers import UNet2DConditionModel
        from safetensors.torch import load_file

        from ..sine.hf_compat import dtype_kwargs

        unet = UNet2DConditionModel.from_pretrained(
            folder / "unet", use_safetensors=True, **dtype_kwargs("diffusers", torch.float32)
        )
        unet = unet.to(model.device).eval().requires_grad_(False)
        embeddings = {
            k: v.to(model.device, torch.float32) for k, v in load_file(folder / EMBEDDINGS).items()
        }
        return unet, embeddings["target"], embeddings["optimised"]

    def count(self, jobs: Sequence[EditJob]) -> dict[str, int]:
        from .steps import evaluations_per_step

        n = sum(j.settings["steps"] * evaluations_per_step(j.settings["guidance"]) for j in jobs)
        return {"naive": n, "shared": n}

    def run_unit(self, runtime, jobs, counter):
        from . import steps

        model = runtime.model
        unet, target, optimised = runtime.trained(jobs[0].finetune)
        out = []
        with steps.counting(counter, finetuned=unet):
            uncond = model.encode_text([""])
            for job in jobs:
                eta = job.settings["imagic_eta"]
                cond = eta * target + (1.0 - eta) * optimised
                out.append(steps.sample_from_noise(model, unet, cond, uncond, job.settings))
        return out


class _Optimiser:
    """Adam on the denoising loss of the source latent, for either Imagic stage."""

    def __init__(self, model, x0, generator, precision) -> None:
        self.model, self.x0, self.generator = model, x0, generator
        self.precision = precision

    def __call__(self, unet, params: list, embedding, count: int, lr: float) -> list[float]:
        import torch

        from ..sine import FinetuneDivergedError
        from . import steps

        optimizer = torch.optim.Adam(params, lr=lr)
        losses = []
        with torch.enable_grad():
            for step in range(count):
                loss = steps.denoising_loss(
                    unet, self.model, self.x0, embedding, self.generator, self.precision
                )
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FinetuneDivergedError(
                        f"imagic loss became {value} at step {step} (lr={lr}); lower its lr"
                    )
                optimizer.zero_grad(set_to_none=True)
                self.precision.step(loss, optimizer)
                losses.append(value)
        return losses
