"""Any editor as a method: a plain class, no sine_bench import needed (docs/plugins.md).

The contract, checked on the class before anything runs (the class is instantiated,
with no arguments, only when its first job runs):

- ``edit(self, source, source_prompt, target_prompt, seed, **knobs) -> PIL.Image.Image``
  takes the source as an RGB ``PIL.Image.Image`` at the cell's height x width (prepared
  as for every method that reads the source) and returns the edit at that same size;
- ``knobs``: a class attribute, a dict of defaults (bool, int, float or str); a protocol's
  values are checked against the defaults' types;
- ``version`` (optional str): part of every key, as is the plug-in's code identity;
- ``identity(self, **knobs) -> dict`` (optional): what the knobs point at, by content
  (a checkpoint folder's fingerprint, say), JSON values; part of every edit key, so
  new weights at the same path recompute; called once per knob setting per plan;
- ``takes_instructions`` (optional bool): it may edit from instructions, not captions;
- ``check(self, **knobs)`` (optional): raises for knob values it cannot run with; called
  once per knob setting while planning (this instantiates the editor then);
- ``check_prompts(self, prompt_kind, **knobs)`` (optional): raises when it cannot edit
  from the dataset's prompts ("caption" or "instruction") with these knobs; called
  after ``check``;
- ``train(self, source, prompt, folder)`` (optional): fits something per image into
  ``folder`` (the store's entry, keyed like SINE's fine-tunes on the image, the source
  prompt, the base model and the editor); ``edit`` then also gets ``trained=folder``.

Each edit is its own unit, timed alone (seconds and peak memory in the cells table,
in place of UNet evaluations); units run grouped by knob setting, ordered by the knobs
as ``knobs`` lists them (the first varies slowest), so an editor that keeps what it
last loaded loads each setting once. A wrong output (not an image, another size) is an
error naming the editor, never resized. An editor that raises fails its job, and
nothing of that job enters the store: an ``InputError`` it raises is bad input (exit
2), anything else a failed job (exit 1); the line names the editor, item, prompt, seed.
"""

from __future__ import annotations

import inspect
import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, JobFailure, one_line
from ..plugins import PluginOrigin
from ..protocol.fields import MethodError
from .base import CellContext, Edit, EditOutput, Knob, Method, PlannedCell, Training

if TYPE_CHECKING:  # pragma: no cover
    from .base import EditJob, FinetuneJob

KNOB_TYPES = (bool, int, float, str)
# names edit() receives from the harness: no knob may take one
RESERVED = ("self", "source", "source_prompt", "target_prompt", "seed", "trained")


class EditorOutputError(InputError):
    """A black-box editor returned what the contract forbids (exit 2: its code must change)."""


class EditorInputError(InputError):
    """A black-box editor refused its input mid-run with an ``InputError`` of its own
    (exit 2, the run stops): the protocol, dataset or editor must change; finished
    jobs are stored."""


class EditorFailed(JobFailure):
    """A black-box editor raised anything else: its job failed (the stage's others still
    run, then exit 1, as a failed job on the Ray executor), the finished ones are in
    the store."""


def described(target: Any, origin: PluginOrigin | None) -> str:
    """How messages name an editor: the plug-in and where it comes from, or the class."""
    if origin is not None:
        return f"plug-in {origin.where()}"
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', target)}"


def check_editor(name: str, origin: PluginOrigin | None, cls: Any) -> None:
    """MethodError naming the editor unless ``cls`` keeps the black-box contract."""
    fail = lambda what: MethodError(f"method {name!r} ({described(cls, origin)}): {what}")  # noqa: E731
    if not isinstance(cls, type) or not callable(getattr(cls, "edit", None)):
        raise fail(
            "is neither a sine_bench Method subclass nor a black-box editor class "
            "(one with edit(self, source, source_prompt, target_prompt, seed, **knobs))"
        )
    knobs = getattr(cls, "knobs", None)
    if not isinstance(knobs, dict):
        raise fail("has no 'knobs' class attribute, a dict of defaults ({} for none)")
    for knob, default in knobs.items():
        if not isinstance(knob, str) or not knob.isidentifier() or knob in RESERVED:
            raise fail(f"knob {knob!r} is not a usable keyword name")
        if type(default) not in KNOB_TYPES:
            raise fail(f"knob {knob!r}: default {default!r:.40} is not a bool, int, float or str")
    version = getattr(cls, "version", "")
    if not isinstance(version, str):
        raise fail(f"version must be a str, got {version!r:.40}")
    _check_call(fail, "__init__", cls, (), {})  # instantiated with no arguments
    trains = callable(getattr(cls, "train", None))
    extra = {"trained": Path(".")} if trains else {}
    _check_call(fail, "edit", cls.edit, (None, "source", "a", "b", 0), dict(knobs) | extra)
    if trains:
        _check_call(fail, "train", cls.train, (None, "source", "a", Path(".")), {})
    if callable(getattr(cls, "identity", None)):
        _check_call(fail, "identity", cls.identity, (None,), dict(knobs))
    if callable(getattr(cls, "check_prompts", None)):
        if "prompt_kind" in knobs:
            raise fail("knob 'prompt_kind' is not a usable keyword name (check_prompts takes it)")
        _check_call(fail, "check_prompts", cls.check_prompts, (None, "caption"), dict(knobs))


def _check_call(fail: Callable, what: str, fn: Callable, args: tuple, kwargs: dict) -> None:
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as err:
        raise fail(f"{what}() cannot be called as the contract calls it ({err})") from None
    except ValueError:  # no signature to read (a builtin): trust it
        return


class BlackBoxMethod(Method):
    """A black-box editor (a plain class with edit and knobs), adapted."""

    trains = "nothing"
    returns_images = True
    needs_model = False

    def __init__(self, name: str, cls: type, origin: PluginOrigin | None):
        """``origin`` None: an editor that ships (keyed on its ``version`` alone)."""
        self.name, self.cls, self.origin = name, cls, origin  # type: ignore[misc]
        self.target = f"{cls.__module__}:{cls.__qualname__}"
        self.label = described(cls, origin)
        self.knobs = tuple(Knob(k, type(v), v) for k, v in cls.knobs.items())  # type: ignore[misc]
        self.version = getattr(cls, "version", "") or "0"  # type: ignore[misc]
        self.trains_own = callable(getattr(cls, "train", None))
        if self.trains_own:
            self.trains = "a fit of its own per image (train), keyed like SINE's fine-tune"  # type: ignore[misc]
        # an editor that takes instructions ("make it night") says so; the default: captions
        self.takes_instructions = bool(getattr(cls, "takes_instructions", False))  # type: ignore[misc]
        self.plugin = origin.identity() if origin is not None else None
        self._editor: Any = None
        self._checked: set[tuple] = set()  # knob settings its check() accepted

    def summary(self) -> str:  # type: ignore[override]
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else f"black-box editor {self.target}"

    def _identity(self) -> dict:
        return {"method": "black-box", "editor": self.target, "version": self.version}

    def plan_cell(self, ctx: CellContext) -> PlannedCell:
        cell = ctx.cell
        settings = self._identity() | {"knobs": dict(cell.knobs), "source_prompt": ctx.item.source}
        settings |= {"height": cell.height, "width": cell.width, "seed": cell.edit.seed}
        if callable(getattr(self.cls, "identity", None)):  # without the hook: keys as ever
            settings["identity"] = self._inputs_identity(dict(cell.knobs), ctx.memo)
        if not self.trains_own:
            return PlannedCell(Edit("cell", cell.prompt, settings, "source", self.name))
        training = Training(ctx.item.source, self._identity(), trainer=self.name)
        return PlannedCell(Edit("cell", cell.prompt, settings, "training", self.name), training)

    def _inputs_identity(self, knobs: dict, memo: dict) -> dict:
        """The editor's ``identity(**knobs)``, once per knob setting per plan (``memo``)."""
        seen = ("black-box identity", self.name, tuple(sorted(knobs.items())))
        if seen not in memo:
            found = self._hook("identity", **knobs)
            try:
                valid = isinstance(found, dict) and json.loads(json.dumps(found)) == found
            except (TypeError, ValueError):
                valid = False
            if not valid:
                raise MethodError(
                    f"method {self.name!r} ({self.label}): identity returned "
                    f"{found!r:.60}, not a dict of JSON values"
                )
            memo[seen] = found
        return memo[seen]

    def check_cell(self, cell, item) -> None:
        """The editor's own ``check(**knobs)`` and ``check_prompts(prompt_kind, **knobs)``,
        when it has them, once per knob setting (and prompt kind): what it cannot run
        with fails here, before any compute."""
        knobs = dict(cell.knobs)
        setting = tuple(sorted(knobs.items()))
        for hook, args in (("check", ()), ("check_prompts", (item.prompt_kind,))):
            done = (hook, args, setting) in self._checked
            if done or not callable(getattr(self.cls, hook, None)):
                continue
            self._hook(hook, *args, **knobs)
            self._checked.add((hook, args, setting))

    def _hook(self, hook: str, *args: Any, **knobs: Any) -> Any:
        """A planning hook's result (this makes the editor); what it raises is one
        MethodError naming the editor (an InputError of its own passes as it is: its
        message names the editor)."""
        try:
            return getattr(self.editor(), hook)(*args, **knobs)
        except InputError:
            raise
        except EditorFailed as err:  # constructing the editor failed
            raise MethodError(str(err)) from None
        except Exception as err:  # noqa: BLE001 - the editor's code may raise anything
            why = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            raise MethodError(f"method {self.name!r} ({self.label}): {hook} raised {why}") from None

    def edit_units(self, jobs: Sequence[EditJob]) -> list[tuple[tuple[EditJob, ...], int]]:
        """One edit per unit (each is timed alone and stored as soon as it is made), in
        runs of one knob setting, ordered by the knobs as the editor lists them (the
        first varies slowest: an editor lists first what is costly to change, which
        weights to load), then by key; deterministic, so a resumed run runs alike."""
        order = [(k.name, k.default) for k in self.knobs]
        setting = lambda job: tuple(job.settings["knobs"].get(n, d) for n, d in order)  # noqa: E731
        return [((job,), 1) for job in sorted(jobs, key=lambda j: (setting(j), j.key))]

    def count(self, jobs: Sequence[EditJob]) -> dict[str, int]:
        return {"naive": 0, "shared": 0}  # no UNet of ours runs: the cost is its seconds

    def training_steps(self, settings: dict) -> int:
        return 0

    def editor(self) -> Any:
        """The editor instance (made once per process, on first use)."""
        if self._editor is None:
            self._editor = self._call("construct", self.cls)
        return self._editor

    def _call(self, what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """``fn``'s result; what it raises fails the job with one line naming the
        editor and ``what`` it was doing: its own InputError as bad input (exit 2),
        anything else as a failed job (exit 1)."""
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            why = one_line(err)[:300]
            raise EditorInputError(f"method {self.name!r} ({self.label}): {what}: {why}") from err
        except Exception as err:  # noqa: BLE001 - the editor's code may raise anything
            why = one_line(err, typed=True)[:300]
            head = f"method {self.name!r} ({self.label})"
            raise EditorFailed(f"{head} raised in {what}: {why}") from err

    def run_unit(self, runtime, jobs, counter) -> list[EditOutput]:
        out = []
        for job in jobs:
            s = job.settings
            source = prepared_source(job.image, (s["height"], s["width"]))
            kwargs = dict(s["knobs"])
            if job.finetune:
                kwargs["trained"] = runtime.trained(job.finetune)
            where = f"edit of item {job.item!r} to {job.prompt!r} (seed {s['seed']})"
            args = (source, s["source_prompt"], job.prompt, s["seed"])
            measured = measure(self._call, where, self.editor().edit, *args, **kwargs)
            image = self._check_output(measured.image, s["height"], s["width"], where)
            out.append(replace(measured, image=image))
        return out

    def _check_output(self, image: Any, height: int, width: int, where: str) -> Any:
        """The edit as the 8-bit RGB image the store keeps (greyscale, alpha or 16-bit
        converted as a viewer shows them, as imported edits are); EditorOutputError for
        what the contract forbids."""
        from PIL import Image

        from ..images import normalize

        head = f"method {self.name!r} ({self.label}): {where}"
        if not isinstance(image, Image.Image):
            raise EditorOutputError(f"{head} returned {type(image).__name__}, not a PIL image")
        try:  # as shown: an EXIF orientation it carries applied, so sized after it
            shown = normalize(image, "RGB")[0]
        except (ValueError, OSError) as err:  # a mode with no 8-bit RGB reading (F)
            raise EditorOutputError(f"{head} returned a {image.mode} image: {err}") from None
        if shown.size != (width, height):
            w, h = shown.size
            raise EditorOutputError(
                f"{head} is {w}x{h} (width x height), the source it got {width}x{height}: "
                "an edit must keep the source's size (nothing is resized)"
            )
        return shown

    def train(self, model, image, job: FinetuneJob, folder: Path) -> None:
        from ..images import open_image

        source, _ = open_image(job.image)
        where = f"training on item {job.item!r}"
        self._call(where, self.editor().train, source, job.prompt, folder)

    def load_trained(self, folder: Path, model) -> Path:
        return folder


def prepared_source(path: Path, hw: tuple[int, int]) -> Any:
    """The source as an RGB PIL image at ``hw``, prepared as every method that reads the
    source prepares it (normalised on load, bicubic, antialiased when it shrinks)."""
    from ..images import load_image, to_pil
    from ..sine.patches import resize_image

    return to_pil((resize_image(load_image(path), hw) + 1) / 2)


def measure(edit: Callable[..., Any], *args: Any, **kwargs: Any) -> EditOutput:
    """Run one edit; its wall time and peak memory (CUDA's peak allocation where CUDA is
    available, else the process's peak resident set, a high-water mark since its start)."""
    torch = sys.modules.get("torch")
    cuda = torch is not None and torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    image = edit(*args, **kwargs)
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
        return EditOutput(image, time.perf_counter() - start, peak, "cuda allocated")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return EditOutput(image, seconds, peak, "process peak rss")
