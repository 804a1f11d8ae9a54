"""The validation pass that ``plan`` and ``run`` share: every check needing no compute.

Four layers, in order, each check run once: the protocol's fields (``load_protocol``:
types, ranges, grid semantics, prompts); what needs no heavy import (the output folder
is free or a previous run's, the model family, and for a run the cached weights: a
second, before torch loads); the plan (``build_plan``: precision, the dataset's files,
images that decode within limits and are big enough for the metrics, output sizes the
VAE can make, cache keys); then ``CHECKS``: small functions
of the plan, each raising one error (one line naming the field or file, with how to
fix it) or returning warnings. A run calls this before its first
training step, so everything that can be found up front is found there.

Add a check by appending a function to ``CHECKS`` (or passing ``checks=``). Errors:
``ProtocolError`` & co. for bad input (exit 2), ``EnvironmentFailure`` for a location
that cannot be written (exit 1). Warnings are recorded in the manifest and the report.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ACCESS, SPACE, EnvironmentFailure, fix_hint
from ..protocol.fields import ProtocolError, hxw
from ..protocol.root import Protocol
from .plan import MAX_CELLS, MAX_SIDE, PlanError, RunPlan, build_plan
from .preflight import Preflight, preflight

Check = Callable[[RunPlan], Iterable[str]]  # raises on an error; yields warnings

MIN_FREE_BYTES = 64 << 20  # below this a run fails at its first fine-tune anyway


@dataclass
class Validated:
    """A plan that passed every check, and the warnings the checks gave."""

    plan: RunPlan
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. optional weights not cached


# --------------------------------------------------------------------------- derived values


def check_derived_values(plan: RunPlan) -> list[str]:
    """Values computed from several fields: the patch canvas and the scoring size."""
    longest = MAX_SIDE // plan.factor
    for job in plan.finetunes.values():
        grid = (job.settings.get("patches") or {}).get("grid", 0)
        if grid > longest:
            raise PlanError(
                f"finetune.patch_grid: {grid} latent cells is {grid * plan.factor} px at this "
                f"model's VAE factor {plan.factor}, over the largest side {MAX_SIDE} "
                f"(use at most {longest}, or 0 for the default)"
            )
    size = plan.protocol.scoring.size
    if size != "source":
        h, w = hxw(size)
        if not 0 < h <= MAX_SIDE or not 0 < w <= MAX_SIDE:
            raise PlanError(
                f"scoring.size: {size!r} must have sides in 1..{MAX_SIDE} "
                "(or be 'source', the source image's own size)"
            )
    return []


def check_targets(plan: RunPlan) -> list[str]:
    """A metric against the ground-truth edit (``needs`` "target") has one for every
    cell: a dataset that ships no targets is refused before anything computes."""
    wanting = [m.text for m in plan.metrics if "target" in m.info.needs]
    if not wanting:
        return []
    for cell in plan.cells:
        item = plan.items[cell.cell.item]
        if item.target_for(cell.cell.prompt) is None:
            raise PlanError(
                f"metrics: {wanting[0]!r} compares each edit with the dataset's ground-truth "
                f"target image, and item {cell.cell.item!r} has none for prompt "
                f"{cell.cell.prompt_index} (datasets with targets: magicbrush, or 'targets' "
                "in a manifest)"
            )
    return []


def check_device(plan: RunPlan) -> list[str]:
    """model.device names a device this machine has."""
    import torch

    device = plan.protocol.model.device
    if device == "auto" or device == "cpu":
        return []
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= count:
            raise ProtocolError(
                f"model.device: {device!r} is not available here (torch sees {count} CUDA "
                "device(s); use 'auto' or 'cpu')"
            )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise ProtocolError("model.device: 'mps' is not available here (use 'auto' or 'cpu')")
    return []


def check_finetune_levers(plan: RunPlan) -> list[str]:
    """Each training job's settings can run here (``Method.check_training``: e.g. a
    memory lever's optional library is installed)."""
    from ..methods import get_method

    for job in plan.finetunes.values():
        get_method(job.trainer).check_training(job.settings, plan.protocol.model.dtype)
    return []


# --------------------------------------------------------------------------- prompts

_TOKENIZERS: dict[tuple[str, str], object] = {}


def _context_length(tokenizer) -> int:
    """Tokens the text encoder reads; CLIP's 77 where the tokenizer does not say."""
    length = int(getattr(tokenizer, "model_max_length", 0) or 0)
    return length if 0 < length < 100_000 else 77


def check_prompts(plan: RunPlan) -> list[str]:
    """A warning for every prompt longer than the text encoder's context: CLIP reads
    the first 77 tokens (start and end included) and silently drops the rest."""
    from transformers.utils import logging as hf_logging

    from ..methods import get_method
    from ..models.loading import model_tokenizer

    spec = plan.protocol.model
    key = (spec.name, spec.revision)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = model_tokenizer(spec.name, spec.revision)
    tokenizer = _TOKENIZERS[key]
    context = _context_length(tokenizer)
    texts: dict[str, str] = {}  # prompt -> where it is first used
    for item_id, item in plan.items.items():
        for index, prompt in enumerate(item.spec.prompts):
            texts.setdefault(prompt, f"item {item_id!r} prompt {index}")
    for job in plan.finetunes.values():
        where = "finetune.prompt_template"  # the protocol's finetune section made it
        if not get_method(job.trainer).uses_sine_finetune:
            where = f"method {job.trainer!r} training prompt"
        texts.setdefault(job.prompt, f"{where} for item {job.item!r}")
    for job in plan.edits.values():  # what methods feed the text encoder beyond the above
        texts.setdefault(job.prompt, f"method {job.sampler!r} prompt for item {job.item!r}")
        if "source" in job.settings:  # ddim-inversion inverts with the description
            texts.setdefault(job.settings["source"], f"item {job.item!r} source description")
    warnings = []
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its own "sequence is longer" warning is ours now
    try:
        for text, where in texts.items():
            count = len(tokenizer(text, truncation=False).input_ids)
            if count > context:
                warnings.append(
                    f"{where}: {count} tokens, the text encoder reads {context}; the rest is "
                    f"ignored (shorten it): {text[:60]!r}{'...' if len(text) > 60 else ''}"
                )
    finally:
        hf_logging.set_verbosity(verbosity)
    return warnings


# --------------------------------------------------------------------------- locations


def _existing_ancestor(path: Path, field_name: str) -> Path:
    """The nearest folder at or above ``path`` that exists (a file there is an error)."""
    current = path.absolute()
    try:
        while not current.exists():
            current = current.parent
    except OSError as err:  # a folder on the way that this user may not enter
        raise EnvironmentFailure(
            f"{field_name} {str(path)!r}: cannot be reached: {err.strerror} ({fix_hint(err.errno)})"
        ) from None
    if not current.is_dir():
        raise ProtocolError(
            f"{field_name}: {str(path)!r} goes through {str(current)!r}, which is a file "
            f"(choose another '{field_name}')"
        )
    return current


def _probe_writable(folder: Path, field_name: str) -> None:
    """Create and remove a file in ``folder``: the honest test (root passes chmod)."""
    from ..fileio import make_temp_file

    try:
        fd, probe = make_temp_file(folder, prefix=".sine-bench-probe-")
        os.close(fd)
        probe.unlink()
    except OSError as err:
        code = err.errno
        if code in ACCESS | SPACE:
            raise EnvironmentFailure(
                f"{field_name} {str(folder)!r}: not writable: {err.strerror} ({fix_hint(code)})"
            ) from None
        raise ProtocolError(
            f"{field_name}: {str(folder)!r} cannot hold files ({err.strerror}; "
            f"choose another '{field_name}')"
        ) from None


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _inside(a: Path, b: Path) -> bool:
    try:
        a, b = a.absolute().resolve(), b.absolute().resolve()
    except RuntimeError as err:  # pathlib's "Symlink loop from ..."
        raise ProtocolError(f"output / store: a path cannot be followed ({err})") from None
    return a == b or b in a.parents


def check_output(plan: RunPlan) -> list[str]:
    """The output is not inside the store (nor it inside the output), and its parent
    takes writes (that it is free or a previous run's ``preflight`` checked first)."""
    protocol: Protocol = plan.protocol
    out, store = protocol.output_dir, Path(protocol.store)
    if _inside(store, out):
        raise ProtocolError(
            f"store {protocol.store!r} is inside output {str(out)!r}, which a run replaces "
            "(put the store elsewhere)"
        )
    if _inside(out, store):
        raise ProtocolError(
            f"output {str(out)!r} is inside store {protocol.store!r} (put it elsewhere)"
        )
    folder = _existing_ancestor(out, "output")  # free or a previous run's: ``preflight``
    if folder == out.absolute():  # a previous run's folder: it is replaced in its parent
        folder = folder.parent
    _probe_writable(folder, "output")
    return []


def _estimated_store_bytes(plan: RunPlan) -> tuple[int, int]:
    """(fine-tunes, edits): bytes the work still to run will write. Fine-tunes are raw
    tensors (as big as the base model's UNet + text encoder on disk: exact enough);
    edits are PNGs, at most H x W x 3 bytes each (an upper bound: PNG compresses)."""
    from .store import Store

    store = Store(plan.protocol.store)
    todo = [j for j in plan.finetunes.values() if not store.done("finetunes", j.key)]
    full = sum(1 for j in todo if not j.settings.get("lora"))
    edits = sum(
        j.settings["height"] * j.settings["width"] * 3
        for j in plan.edits.values()
        if not store.done("edits", j.key)
    )
    return full * _weights_bytes(plan.protocol.model.name), edits


def _weights_bytes(name: str) -> int:
    """Bytes of a fine-tune's UNet + text encoder, measured on the base model's files
    when they are on disk (toy, a local folder); 0 when not known."""
    from ..model_family import TOY_DIR

    folder = TOY_DIR if name == "toy" else Path(name)
    if name == "tiny-random" or not folder.is_dir():
        return 0
    parts = [folder / "unet", folder / "text_encoder"]
    return sum(p.stat().st_size for part in parts if part.is_dir() for p in part.rglob("*"))


def check_store(plan: RunPlan) -> list[str]:
    """The store takes writes and has room for what the run still has to write."""
    store = Path(plan.protocol.store)
    folder = _existing_ancestor(store, "store")
    _probe_writable(folder, "store")
    if folder == store.absolute():
        for stage in ("locks", "finetunes", "edits", "scores", "plots"):
            if (store / stage).is_dir():
                _probe_writable(store / stage, "store")
    finetunes, edits = _estimated_store_bytes(plan)
    needed = MIN_FREE_BYTES + finetunes
    free = _free_bytes(folder)
    if free < needed:
        raise EnvironmentFailure(
            f"store {plan.protocol.store!r}: {free >> 20} MiB free, this run needs about "
            f"{needed >> 20} MiB ({fix_hint(errno.ENOSPC)})"
        )
    if free < needed + edits:
        return [
            f"store {plan.protocol.store!r}: {free >> 20} MiB free; the edits still to run "
            f"take up to {edits >> 20} MiB more (it may run out: free some space first)"
        ]
    return []


def check_backbones(plan: RunPlan) -> list[str]:
    """Every metric's backbone loads (once per process); a MetricError names the metric."""
    from ..metrics.backbones import load_backbone

    for metric in plan.metrics:
        for kind, name in metric.backbones().items():
            load_backbone(kind, name, metric.text)
    return []


# What plan and run both check, cheapest first.
CHECKS: list[Check] = [
    check_targets,
    check_derived_values,
    check_device,
    check_finetune_levers,
    check_prompts,
    check_output,
    check_store,
]
# What needs the weights on this machine (loading networks, perhaps downloading them):
# run checks it before its first training step; plan does not, so that a protocol
# can be planned offline, on another machine than the one that will run it.
WEIGHT_CHECKS: list[Check] = [check_backbones]


def validate(
    protocol: str | Path | Protocol | Preflight,
    checks: Iterable[Check] | None = None,
    *,
    load_weights: bool = True,
    max_cells: int | None = MAX_CELLS,
) -> Validated:
    """Load (if given a path), preflight (unless given a ``Preflight``), plan and check a
    protocol; raise the first error found. ``checks`` replaces CHECKS (and
    WEIGHT_CHECKS, which run only with ``load_weights``, as does the check that every
    weight a run needs is cached); a grid over ``max_cells`` cells (None: no bound) is
    refused before it is built."""
    if not isinstance(protocol, Preflight):
        protocol = preflight(protocol, weights=load_weights, max_cells=max_cells)
    plan = build_plan(protocol.protocol, max_cells=None)  # its size: checked by preflight
    result = Validated(plan, notes=protocol.notes)
    if checks is None:
        checks = [*CHECKS, *(WEIGHT_CHECKS if load_weights else [])]
    for check in checks:
        result.warnings.extend(check(plan))
    return result
