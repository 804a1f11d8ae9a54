"""``negative-prompt-inversion``: Miyake et al.'s training-free inversion (2023).

DDIM-invert the source with its description (conditional prediction only), then
regenerate from the inverted latent with classifier-free guidance whose *negative*
(unconditional) embedding is the source description's, not the empty prompt's:
``eps(src) + w * (eps(target) - eps(src))``. Null-text inversion optimises an
unconditional embedding per timestep so that the guided step lands on the inverted
path; Miyake et al. observe that the source description's own embedding is a good
closed-form stand-in, so no optimisation runs. A property that follows (and the tests
pin): with the target equal to the source, guidance has no effect and the edit is the
plain w = 1 regeneration of the inversion.

The inversion does not depend on guidance, so one inversion serves every prompt and
every guidance of a source (one unit). Deterministic: no seed in the key; DDIM eta
must be 0. UNet evaluations per unit: ``steps`` for the inversion, plus ``steps``
(w = 1) or ``2 * steps`` per edit.

Built on sine-bench's public method seam (``sine_bench.methods``) and the steps its
baselines share (``sine_bench.methods.steps``), as any plug-in would be.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sine_bench.methods import Edit, Method, PlannedCell
from sine_bench.methods.base import sampling_settings
from sine_bench.methods.ddim_inversion import check_invertible

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from sine_bench.methods import CellContext, EditJob

NAME = "negative-prompt-inversion"  # its entry point's name (a protocol may rename it)


def inversion_group(job: EditJob) -> tuple:
    """Edits that share one inversion: the same source and settings but for guidance
    (the inversion is unguided) and the seed (none: deterministic)."""
    shared = {k: v for k, v in job.settings.items() if k not in ("guidance", "seed")}
    return (job.item or "", repr(sorted(shared.items())))


def regeneration_evaluations(settings: dict) -> int:
    from sine_bench.methods.steps import evaluations_per_step

    return settings["steps"] * evaluations_per_step(settings["guidance"])


class NegativePromptInversion(Method):
    """DDIM inversion, regenerated with the source description as the negative prompt."""

    name = NAME
    trains = "nothing: one unguided DDIM inversion per source serves every prompt and w"
    knobs = ()  # sweep the protocol's generic guidance
    version = "1"

    def check_cell(self, cell, item) -> None:
        check_invertible(self.name, cell, item)

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        settings = {"method": self.name, "version": self.version, "source": ctx.item.source}
        settings |= sampling_settings(ctx.cell, batched=False)
        del settings["seed"]  # deterministic: every seed of a cell is one edit
        return PlannedCell(Edit("cell", ctx.cell.prompt, settings, "source", self.name))

    def unit_group(self, job: EditJob) -> tuple:
        return inversion_group(job)

    def count(self, jobs: Sequence[EditJob]) -> dict[str, int]:
        groups: dict[tuple, list[EditJob]] = {}
        for job in jobs:
            groups.setdefault(inversion_group(job), []).append(job)
        naive = shared = 0
        for members in groups.values():
            inversion = members[0].settings["steps"]
            regenerations = sum(regeneration_evaluations(j.settings) for j in members)
            naive += inversion * len(members) + regenerations
            shared += inversion + regenerations
        return {"naive": naive, "shared": shared}

    def run_unit(self, runtime, jobs, counter) -> list[torch.Tensor]:
        from sine_bench.images import load_image
        from sine_bench.methods import steps

        model = runtime.model
        s = jobs[0].settings
        with steps.counting(counter, pretrained=model.unet):
            latent = steps.source_latent(model, load_image(jobs[0].image), s["height"], s["width"])
            negative = model.encode_text([s["source"]])
            path = steps.invert(model.unet, model, latent, negative, s["steps"])
            out = []
            for job in jobs:
                scheduler = steps.ddim(model, s["steps"])
                cond = model.encode_text([job.prompt])
                guidance = job.settings["guidance"]
                out.append(steps.denoise(model.unet, scheduler, path[-1], cond, negative, guidance))
        return out
