"""Many SINE edits of one fine-tune (or several) at the cost of the UNet evaluations
they truly need.

Two savings over running each edit with :func:`sample_latents`:

* **K-prefix sharing.** Edits that differ only in K follow one trajectory while every
  one of them is still guided (t > K) and fork when t drops to an edit's K; after the
  fork each branch runs the pretrained-only tail. The tree is general: any edits that
  share (prompt, seed, v, guidance) share a trunk, and a row splits exactly when its
  edits disagree on the step type (guided or not) at a timestep. A fork copies the
  latent and the generator state, so each branch continues exactly as its unshared run
  would have: with one row per UNet call the results are bitwise equal.
* **Batching.** Rows at a timestep go through the UNet ``batch_size`` at a time (each
  row contributing its unconditional and conditional pretrained inputs, and, if
  guided, one fine-tuned input). Every edit keeps its own generator, so what an edit
  produces does not depend on what it was batched with; batched kernels may differ from
  unbatched ones in the last bits (tested tolerance in ``tests/sine``).
* **Many images per call.** Edits of several fine-tunes (``EditRequest.model``, an index
  into ``finetuned``) run as one grid: each pretrained call takes ``batch_size *
  images_per_call`` rows of any of them, and the fine-tuned rows of LoRA fine-tunes
  attached side by side to one base go in one call with an adapter per row
  (``lora.adapters_per_row``); full fine-tunes are separate UNets, one call each.
  Rows of different fine-tunes never share a trajectory, so the evaluation count is
  the sum of the per-image counts; the results differ from per-image sampling only as
  batching does (tested tolerance in ``tests/sine/test_multi_image.py``).

Text embeddings are computed once per prompt per model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .components import DiffusionModel
from .guidance import is_guided, pretrained_guidance, sine_guidance
from .lora import ADAPTER, adapters_per_row
from .sampler import (
    EvaluationCounter,
    FinetunedModel,
    SinePlan,
    finetuned_prediction,
    initial_latents,
    make_scheduler,
    sample_latents,
)


@dataclass(frozen=True)
class EditRequest:
    """One edit of a grid: what :func:`sine_edit` takes, minus the shared fine-tune."""

    prompt: str
    v: float
    k: int
    guidance_scale: float
    seed: int
    model: int = 0  # which of the grid's fine-tunes guides it

    def guided(self, t: int) -> bool:
        """Whether this edit uses the fine-tuned model at timestep t (v = 1 never does)."""
        return is_guided(t, self.k) and self.v < 1.0

    @property
    def trunk(self) -> tuple:
        """Edits with equal trunks differ at most in K: they can share a trajectory."""
        return (self.prompt, self.v, self.guidance_scale, self.seed, self.model)


@dataclass
class _Row:
    """One latent trajectory and the edits (indices) that follow it."""

    latents: torch.Tensor
    generator: torch.Generator
    members: list[int]
    guided: bool = False


def _fork(row: _Row, members: list[int]) -> _Row:
    generator = torch.Generator(device=row.generator.device)
    generator.set_state(row.generator.get_state())
    return _Row(row.latents.clone(), generator, members)


def _by_step_type(
    members: list[int], requests: Sequence[EditRequest], t: int
) -> tuple[list[int], list[int]]:
    """(guided, plain): a trajectory's edits split by what they do at timestep t; one
    trajectory must fork exactly when both are non-empty."""
    guided = [i for i in members if requests[i].guided(t)]
    plain = [i for i in members if not requests[i].guided(t)]
    return guided, plain


def _split_rows(rows: list[_Row], requests: Sequence[EditRequest], t: int) -> list[_Row]:
    """Fork every row whose edits disagree on the step type at t; tag each row's type."""
    out = []
    for row in rows:
        guided, plain = _by_step_type(row.members, requests, t)
        if guided and plain:
            row.members = guided
            out.append(row)
            out.append(_fork(row, plain))
            out[-1].guided = False
            row.guided = True
        else:
            row.guided = bool(guided)
            out.append(row)
    return out


def count_evaluations(requests: Sequence[EditRequest], timesteps: Sequence[int]) -> dict[str, int]:
    """UNet evaluations of a grid with sharing (``shared``) and edit by edit (``naive``);
    pure bookkeeping, the same tree the sampler walks (plans and benchmarks use it)."""
    naive = 0
    for request in requests:
        guided = sum(request.guided(t) for t in timesteps)
        naive += 3 * guided + 2 * (len(timesteps) - guided)
    shared = 0
    for members in _trunks(requests).values():
        groups = [members]
        for t in timesteps:
            split = []
            for group in groups:
                split += [g for g in _by_step_type(group, requests, t) if g]
            groups = split
            shared += sum(3 if requests[g[0]].guided(t) else 2 for g in groups)
    return {"naive": naive, "shared": shared}


def _trunks(requests: Sequence[EditRequest]) -> dict[tuple, list[int]]:
    trunks: dict[tuple, list[int]] = {}
    for i, request in enumerate(requests):
        trunks.setdefault(request.trunk, []).append(i)
    return trunks


@dataclass
class _TextCache:
    """Prompt embeddings, computed once per prompt per model."""

    model: DiffusionModel
    finetuned: Sequence[FinetunedModel | None]
    pretrained: dict[str, torch.Tensor] = field(default_factory=dict)
    _finetuned: dict[int, torch.Tensor] = field(default_factory=dict)

    def pair(self, prompt: str) -> torch.Tensor:
        """(2, L, D): the empty prompt and ``prompt``, as one pretrained call sees them."""
        if prompt not in self.pretrained:
            self.pretrained[prompt] = self.model.encode_text(["", prompt])
        return self.pretrained[prompt]

    def finetuned_prompt(self, index: int) -> torch.Tensor:
        """(1, L, D): fine-tune ``index``'s training prompt through its text encoder."""
        ft = self.finetuned[index]
        if ft is None:
            raise ValueError("a guided edit (t > K, v < 1) needs a fine-tuned model")
        if index not in self._finetuned:
            self._finetuned[index] = self.model.encode_text([ft.prompt], ft.text_encoder)
        return self._finetuned[index]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@torch.no_grad()
def sample_grid(
    model: DiffusionModel,
    finetuned: FinetunedModel | None | Sequence[FinetunedModel | None],
    requests: Sequence[EditRequest],
    *,
    height: int,
    width: int,
    steps: int = 100,
    eta: float = 0.0,
    batch_size: int = 1,
    images_per_call: int = 1,
    counter: EvaluationCounter | None = None,
    progress: bool = False,
) -> list[torch.Tensor]:
    """Final latents (1, C, H/f, W/f) of every request, in order: the same as calling
    :func:`sample_latents` with ``SinePlan(v, K, guidance)`` and the request's fine-tune
    per request, for fewer UNet evaluations. ``finetuned``: one fine-tune or a list
    (``EditRequest.model`` indexes it); None where no request is ever guided."""
    if batch_size < 1 or images_per_call < 1:
        raise ValueError(f"batch_size and images_per_call must be >= 1, got {batch_size}")
    models = list(finetuned) if isinstance(finetuned, (list, tuple)) else [finetuned]
    scheduler = make_scheduler(model, steps)
    texts = _TextCache(model, models)
    calls = _Calls(models, batch_size, images_per_call)
    counter = counter if counter is not None else EvaluationCounter()
    rows = []
    for members in _trunks(requests).values():
        generator = torch.Generator().manual_seed(requests[members[0]].seed)
        noise = initial_latents(model, height, width, generator) * scheduler.init_noise_sigma
        rows.append(_Row(noise, generator, list(members)))

    for t in tqdm(scheduler.timesteps, desc="sampling", disable=not progress, leave=False):
        t_int = int(t)
        rows = _split_rows(rows, requests, t_int)
        inputs = [scheduler.scale_model_input(row.latents, t) for row in rows]
        eps_u, eps_c = _pretrained(model, rows, requests, inputs, texts, t, calls.rows)
        eps_f = _finetuned(calls, rows, requests, inputs, texts, t)
        for r, row in enumerate(rows):
            request = requests[row.members[0]]
            if row.guided:
                eps = sine_guidance(
                    eps_u[r], eps_c[r], eps_f[r], v=request.v, w=request.guidance_scale
                )
            else:
                eps = pretrained_guidance(eps_u[r], eps_c[r], request.guidance_scale)
            step = scheduler.step(eps, t, row.latents, eta=eta, generator=row.generator)
            row.latents = step.prev_sample
        counter.pretrained += 2 * len(rows)
        counter.finetuned += len(eps_f)
        counter.per_step.append(2 * len(rows) + len(eps_f))

    out: list[torch.Tensor | None] = [None] * len(requests)
    for row in rows:
        for i in row.members:
            out[i] = row.latents.clone()
    return out  # type: ignore[return-value]


def sample_one(
    model: DiffusionModel,
    finetuned: FinetunedModel,
    request: EditRequest,
    *,
    height: int,
    width: int,
    steps: int = 100,
    eta: float = 0.0,
    counter: EvaluationCounter | None = None,
) -> torch.Tensor:
    """One request the unshared way (:func:`sample_latents`): the reference that
    :func:`sample_grid` must reproduce, and the baseline its benchmark times."""
    return sample_latents(
        model,
        [finetuned],
        SinePlan(v=request.v, k=request.k, guidance_scale=request.guidance_scale),
        request.prompt,
        height=height,
        width=width,
        steps=steps,
        eta=eta,
        generator=torch.Generator().manual_seed(request.seed),
        counter=counter,
    )


def _pretrained(model, rows, requests, inputs, texts, t, batch_size):
    """(eps_u, eps_c) per row: each row is the pair (z, z) against ("", prompt)."""
    eps_u, eps_c = [], []
    for chunk in _chunks(list(range(len(rows))), batch_size):
        z = torch.cat([inputs[r].repeat(2, 1, 1, 1) for r in chunk])
        text = torch.cat([texts.pair(requests[rows[r].members[0]].prompt) for r in chunk])
        pred = model.unet(z, t, text).sample
        for j in range(len(chunk)):
            eps_u.append(pred[2 * j : 2 * j + 1])
            eps_c.append(pred[2 * j + 1 : 2 * j + 2])
    return eps_u, eps_c


@dataclass
class _Calls:
    """How guided rows share fine-tuned calls: rows of one full fine-tune ``batch_size``
    at a time; rows of LoRA fine-tunes side by side on one base (and one encoding)
    ``batch_size * images_per_call`` at a time, an adapter per row."""

    models: list[FinetunedModel | None]
    batch_size: int
    images_per_call: int

    @property
    def rows(self) -> int:
        """Rows per pretrained call (every image's rows are the same weights)."""
        return self.batch_size * self.images_per_call

    def group(self, index: int) -> tuple:
        unet = self.models[index].unet  # type: ignore[union-attr]
        if getattr(unet, "adapter", ADAPTER) != ADAPTER:  # LoraView side by side
            return ("lora", id(unet.base), unet.patch)
        return ("model", index)

    def predict(self, indices: list[int], z, t, text) -> torch.Tensor:
        """One call for rows of the fine-tunes ``indices`` (one group)."""
        unet = self.models[indices[0]].unet  # type: ignore[union-attr]
        if self.group(indices[0])[0] == "model":
            return finetuned_prediction(unet, z, t, text)
        names = [self.models[i].unet.adapter for i in indices]  # type: ignore[union-attr]
        with adapters_per_row(unet.base, names, unet.patch):
            return finetuned_prediction(unet.base, z, t, text)


def _finetuned(calls: _Calls, rows, requests, inputs, texts, t) -> dict[int, torch.Tensor]:
    """Each guided row's fine-tuned prediction (by row index), grouped into calls."""
    groups: dict[tuple, list[int]] = {}
    for r, row in enumerate(rows):
        if row.guided:
            index = requests[row.members[0]].model
            texts.finetuned_prompt(index)  # a guided row without a fine-tune fails here
            groups.setdefault(calls.group(index), []).append(r)
    eps = {}
    for group, guided in groups.items():
        size = calls.batch_size if group[0] == "model" else calls.rows
        for chunk in _chunks(guided, size):
            indices = [requests[rows[r].members[0]].model for r in chunk]
            z = torch.cat([inputs[r] for r in chunk])
            if len(set(indices)) == 1:
                text = texts.finetuned_prompt(indices[0]).expand(len(chunk), -1, -1)
            else:
                text = torch.cat([texts.finetuned_prompt(i) for i in indices])
            pred = calls.predict(indices, z, t, text)
            for j, r in enumerate(chunk):
                eps[r] = pred[j : j + 1]
    return eps


def timesteps_for(steps: int, num_train_timesteps: int = 1000) -> list[int]:
    """The DDIM timesteps a ``steps``-step SD sampler visits (no model needed)."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(
        num_train_timesteps=num_train_timesteps, steps_offset=1, timestep_spacing="leading"
    )
    scheduler.set_timesteps(steps)
    return [int(t) for t in np.asarray(scheduler.timesteps)]
