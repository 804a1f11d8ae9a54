"""``dreambooth`` (Ruiz et al., CVPR 2023) on one image: SINE's own fine-tune (the same
key: nothing is trained twice), sampled alone with the target prompt written in its
rare-token vocabulary ("a large blue sks circle on a green background").

DreamBooth's prior-preservation loss needs class images; SINE's single-image fine-tune
has none, so this is DreamBooth without it, exactly as the fine-tuned half of SINE.
The fine-tuned UNet and text encoder give both guidance predictions (the empty prompt
and the rewritten one): 2 UNet evaluations per DDIM step (1 at guidance 1).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from .base import CellContext, Edit, EditJob, Method, PlannedCell, sampling_settings
from .sine import memorized_edit, sine_training


def identifier(template: str) -> str:
    """The rare token of a training-prompt template: the word before ``{class_word}``
    ("a photo of a sks {class_word}" -> "sks"); "" when there is none."""
    words = template.split("{class_word}")[0].split()
    return words[-1] if words else ""


def rare_token_prompt(target: str, source: str, class_word: str, template: str) -> str:
    """The target prompt with the identifier before the subject: before the class word
    where the target names it, else before the word that replaces the class word in
    the source description ("circle" -> "diamond"), else the training prompt first."""
    token = identifier(template)
    if not token:
        return target
    found = re.search(rf"\b{re.escape(class_word)}\b", target)
    if found:
        return f"{target[: found.start()]}{token} {target[found.start() :]}"
    src, tgt = source.split(), target.split()
    if class_word in src:
        at = src.index(class_word)
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=src, b=tgt).get_opcodes():
            if op == "replace" and i1 <= at < i2 and i2 - i1 == j2 - j1:
                j = j1 + at - i1
                return " ".join([*tgt[:j], token, *tgt[j:]])
    return f"{template.format(class_word=class_word)}, {target}"


class DreamBooth(Method):
    """SINE's fine-tune sampled alone with the target prompt in its rare-token words."""

    name = "dreambooth"
    trains = "nothing of its own: SINE's fine-tune, under SINE's key"
    uses_sine_finetune = True

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        training = sine_training(ctx)
        template = ctx.cell.finetune.prompt_template
        prompt = rare_token_prompt(ctx.cell.prompt, ctx.item.source, ctx.item.class_word, template)
        settings = {"method": self.name, "version": self.version}
        settings |= sampling_settings(ctx.cell, batched=False)
        edit = Edit("cell", prompt, settings, "training", sampler=self.name)
        return PlannedCell(edit, training, memorized_edit(ctx, training))

    def count(self, jobs: Sequence[EditJob]) -> dict[str, int]:
        from .steps import evaluations_per_step

        n = sum(j.settings["steps"] * evaluations_per_step(j.settings["guidance"]) for j in jobs)
        return {"naive": n, "shared": n}

    def run_unit(self, runtime, jobs, counter):
        from . import steps

        model = runtime.model
        finetuned = runtime.trained(jobs[0].finetune)
        out = []
        with steps.counting(counter, finetuned=finetuned.unet):
            uncond = model.encode_text([""], finetuned.text_encoder)
            for job in jobs:
                cond = model.encode_text([job.prompt], finetuned.text_encoder)
                out.append(
                    steps.sample_from_noise(model, finetuned.unet, cond, uncond, job.settings)
                )
        return out
