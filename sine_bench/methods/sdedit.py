"""``sdedit`` (Meng et al., ICLR 2022): noise the source latent to strength s and denoise
it with the target prompt (diffusers' StableDiffusionImg2ImgPipeline on the project's
components, DDIM with the model's schedule).

The pipeline runs ``int(steps * s)`` of the DDIM steps, starting at the timestep
where that many remain, from ``sqrt(ab) z_src + sqrt(1 - ab) noise`` with SINE's start
noise for the seed. So s = 0 is the VAE round trip of the source (no step runs: the
pipeline cannot take it, the method returns the source latent), and s = 1 is a
pretrained sample but for the ``sqrt(ab_T)`` share of the source left in its start.
The source latent is the VAE posterior mean (not a posterior sample, as diffusers
draws), so the only randomness is the noise. Guidance follows diffusers: w <= 1 runs
the conditional prediction alone (1 UNet evaluation per step, else 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..protocol.fields import MethodError
from .base import Edit, Knob, Method, PlannedCell, sampling_settings

if TYPE_CHECKING:  # pragma: no cover
    from .base import CellContext, EditJob


def steps_run(steps: int, strength: float) -> int:
    """How many DDIM steps img2img takes at ``strength`` (diffusers' rule)."""
    return min(int(steps * strength), steps)


class SDEdit(Method):
    """Noise the source to strength s, denoise with the target prompt."""

    name = "sdedit"
    trains = "nothing"
    knobs = (Knob("strength", float, 0.75, 0.0, 1.0, "share of the DDIM steps to rerun"),)

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        settings = {"method": self.name, "version": self.version}
        settings |= {"strength": ctx.knob("strength")}
        settings |= sampling_settings(ctx.cell, batched=False)
        return PlannedCell(Edit("cell", ctx.cell.prompt, settings, "source", self.name))

    def count(self, jobs: Sequence[EditJob]) -> dict[str, int]:
        n = 0
        for job in jobs:
            s = job.settings
            n += steps_run(s["steps"], s["strength"]) * (2 if s["guidance"] > 1.0 else 1)
        return {"naive": n, "shared": n}

    def run_unit(self, runtime, jobs, counter):
        import torch
        from diffusers import DDIMScheduler, StableDiffusionImg2ImgPipeline

        from ..images import load_image
        from . import steps

        model = runtime.model
        if model.unet.config.in_channels != 4:  # diffusers' img2img takes 4-channel latents
            raise MethodError("sdedit: diffusers' img2img needs a model with 4 latent channels")
        source = load_image(jobs[0].image)
        pipe = StableDiffusionImg2ImgPipeline(
            vae=model.vae,
            text_encoder=model.text_encoder,
            tokenizer=model.tokenizer,
            unet=model.unet,
            scheduler=DDIMScheduler.from_config(model.scheduler.config),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        out = []
        with steps.counting(counter, pretrained=model.unet):
            for job in jobs:
                s = job.settings
                latent = steps.source_latent(model, source, s["height"], s["width"])
                if steps_run(s["steps"], s["strength"]) == 0:
                    out.append(latent)
                    continue
                result = pipe(
                    prompt=job.prompt,
                    image=latent,  # 4 channels: the pipeline takes it as the init latent
                    strength=s["strength"],
                    num_inference_steps=s["steps"],
                    guidance_scale=s["guidance"],
                    eta=s["eta"],
                    generator=torch.Generator().manual_seed(s["seed"]),
                    output_type="latent",
                )
                out.append(result.images)
        return out
