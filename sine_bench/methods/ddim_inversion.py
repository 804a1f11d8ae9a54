"""``ddim-inversion``: invert the source with its description (deterministic DDIM run
backwards, diffusers' DDIMInverseScheduler), then regenerate from the inverted latent
with the target prompt at guidance w.

At w > 1 the plain inversion drifts (it was computed without guidance). With
``null_text_steps`` N > 0 the null-text optimisation of Mokady et al. (CVPR 2023)
corrects that: along the inversion, per timestep, the unconditional embedding is
optimised (Adam, N steps, lr decaying linearly to half over the timesteps, as their
code does at 50 steps) so that the guided DDIM step from the current latent lands on
the inverted one; the regeneration then uses those per-step embeddings. N is fixed
(no early stop) so the cost is exact. At w = 1 the embedding has no effect, so no
optimisation runs and N is not part of the key.

One inversion (and optimisation) serves every prompt of a source at one guidance; a
unit is that group. Deterministic: the seed is not part of the key, and DDIM eta must
be 0. UNet evaluations: ``steps`` for the inversion, ``steps * (N + 2)`` for the
optimisation, ``steps`` (w = 1) or ``2 * steps`` per regeneration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..protocol.fields import MethodError
from .base import Edit, Knob, Method, PlannedCell, sampling_settings

if TYPE_CHECKING:  # pragma: no cover
    from .base import CellContext, EditJob


def check_invertible(method: str, cell, item) -> None:
    """What every method that inverts the source with DDIM needs of a cell: a source
    description to invert with, and eta = 0 (DDIM inversion is deterministic)."""
    if not item.source.strip():
        raise MethodError(
            f"{method}: item {item.id!r} has no 'source' description to invert with "
            "(add one to the dataset manifest)"
        )
    if cell.edit.eta != 0.0:
        raise MethodError(f"{method}: DDIM inversion needs edit.eta = 0")


def null_text_steps(settings: dict) -> int:
    return settings.get("null_text_steps", 0)


def inversion_evaluations(settings: dict) -> int:
    """UNet rows of one inversion and its null-text optimisation."""
    return settings["steps"] * (
        1 + (null_text_steps(settings) + 2 if null_text_steps(settings) else 0)
    )


def regeneration_evaluations(settings: dict) -> int:
    from .steps import evaluations_per_step

    return settings["steps"] * evaluations_per_step(settings["guidance"])


class DDIMInversion(Method):
    """Invert the source with its description, regenerate with the target prompt."""

    name = "ddim-inversion"
    trains = "nothing stored: null-text embeddings are optimised per source and guidance"
    knobs = (
        Knob("null_text_steps", int, 0, 0, 1000, "null-text optimisation steps per timestep"),
        Knob("null_text_lr", float, 1e-2, 0.0, 10.0, "its Adam learning rate (first timestep)"),
    )

    def check_cell(self, cell, item) -> None:
        check_invertible(self.name, cell, item)

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        settings = {"method": self.name, "version": self.version, "source": ctx.item.source}
        if ctx.cell.edit.guidance != 1.0 and ctx.knob("null_text_steps") > 0:
            settings |= {k: ctx.knob(k) for k in ("null_text_steps", "null_text_lr")}
        settings |= sampling_settings(ctx.cell, batched=False)
        del settings["seed"]  # deterministic
        return PlannedCell(Edit("cell", ctx.cell.prompt, settings, "source", self.name))

    def unit_group(self, job: EditJob) -> tuple:
        s = dict(job.settings)
        s.pop("seed", None)
        return (job.item or "", repr(sorted((k, v) for k, v in s.items())))

    def count(self, jobs: Sequence[EditJob]) -> dict[str, int]:
        groups: dict[tuple, list[EditJob]] = {}
        for job in jobs:
            groups.setdefault(self.unit_group(job), []).append(job)
        naive = shared = 0
        for members in groups.values():
            inversion = inversion_evaluations(members[0].settings)
            regenerations = sum(regeneration_evaluations(j.settings) for j in members)
            naive += inversion * len(members) + regenerations
            shared += inversion + regenerations
        return {"naive": naive, "shared": shared}

    def run_unit(self, runtime, jobs, counter):
        from ..images import load_image
        from . import steps

        model = runtime.model
        s = jobs[0].settings
        with steps.counting(counter, pretrained=model.unet):
            latent = steps.source_latent(model, load_image(jobs[0].image), s["height"], s["width"])
            source_text = model.encode_text([s["source"]])
            path = steps.invert(model.unet, model, latent, source_text, s["steps"])
            nulls = model.encode_text([""])
            if null_text_steps(s):
                nulls = optimise_nulls(model, path, source_text, s)
            out = []
            for job in jobs:
                scheduler = steps.ddim(model, s["steps"])
                cond = model.encode_text([job.prompt])
                out.append(
                    steps.denoise(model.unet, scheduler, path[-1], cond, nulls, s["guidance"])
                )
        return out


def optimise_nulls(model, path, cond, settings: dict) -> list:
    """Per timestep, the unconditional embedding that makes the guided DDIM step from
    the current latent land on the inverted one (Mokady et al.'s null-text inversion).
    The embedding and Adam's state are float32 (autocast on a half-precision base)."""
    import torch
    import torch.nn.functional as F

    from ..sine.precision import MixedPrecision
    from . import steps

    scheduler = steps.ddim(model, settings["steps"])
    precision = MixedPrecision(model.dtype, model.device)
    w, n = settings["guidance"], null_text_steps(settings)
    null = model.encode_text([""]).detach().float()
    z, nulls = path[-1], []
    timesteps = scheduler.timesteps
    for i, t in enumerate(timesteps):
        target = path[-2 - i]
        with torch.no_grad():
            eps_c = steps.predict(model.unet, z, t, cond)
        null = null.clone().requires_grad_(True)
        lr = settings["null_text_lr"] * (1.0 - 0.5 * i / len(timesteps))
        optimizer = torch.optim.Adam([null], lr=lr)
        with torch.enable_grad():
            for _ in range(n):
                with precision.autocast():
                    eps_u = model.unet(z, t, null).sample
                landed = scheduler.step(eps_u + w * (eps_c - eps_u), t, z).prev_sample
                loss = F.mse_loss(landed.float(), target.float())
                optimizer.zero_grad(set_to_none=True)
                precision.step(loss, optimizer)
        null = null.detach()
        nulls.append(null)
        with torch.no_grad():
            eps_u = steps.predict(model.unet, z, t, null)
            z = scheduler.step(eps_u + w * (eps_c - eps_u), t, z).prev_sample
    return nulls
