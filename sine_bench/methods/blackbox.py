"""Any editor as a method: a plain class, no sine_bench import needed (docs/plugins.md).

The contract, checked on the class before anything runs (the class is instantiated,
with no arguments, only when its first job runs):

- ``edit(self, source, source_prompt, target_prompt, seed, **knobs) -> PIL.Image.Image``
  takes the source as an RGB ``PIL.Image.Image`` at the cell's height x width (prepared
  as for every method that reads the source) and returns the edit at that same size;
- ``knobs``: a class attribute, a dict of defaults (bool, int, float or str); a protocol's
  values are checked against the defaults' types;
- ``version`` (optional str): part of every key, as is the plug-in's code identity;
- ``takes_instructions`` (optional bool): it edits from instructions, not captions;
- ``check(self, **knobs)`` (optional): raises for knob values it cannot run with; called
  once per knob setting while planning (this instantiates the editor then);
- ``train(self, source, prompt, folder)`` (optional): fits something per image into
  ``folder`` (the store's entry, keyed like SINE's fine-tunes on the image, the source
  prompt, the base model and the editor); ``edit`` then also gets ``trained=folder``.

Each edit is its own unit, timed alone (seconds and peak memory in the cells table,
in place of UNet evaluations). A wrong output (not an image, another size) is an error
naming the editor, never resized; an editor that raises fails its job, and nothing of
that job enters the store.
"""

from __future__ import annotations

import inspect
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, JobFailure
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


class EditorFailed(JobFailure):
    """A black-box editor raised: its job failed (the stage's others still run), the
    finished ones are in the store."""


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
    trains = callable(getattr(cls, "train", None))
    extra = {"trained": Path(".")} if trains else {}
    _check_call(fail, "edit", cls.edit, (None, "source", "a", "b", 0), dict(knobs) | extra)
    if trains:
        _check_call(fail, "train", cls.train, (None, "source", "a", Path(".")), {})


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
        if not self.trains_own:
            return PlannedCell(Edit("cell", cell.prompt, settings, "source", self.name))
        training = Training(ctx.item.source, self._identity(), trainer=self.name)
        return PlannedCell(Edit("cell", cell.prompt, settings, "training", self.name), training)

    def check_cell(self, cell, item) -> None:
        """The editor's own ``check(**knobs)``, when it has one, once per knob setting:
        knob values it cannot run with fail here, before any compute."""
        check = getattr(self.cls, "check", None)
        knobs = dict(cell.knobs)
        seen = tuple(sorted(knobs.items()))
        if check is None or seen in self._checked:
            return
        try:
            self.editor().check(**knobs)
        except InputError:
            raise  # the editor's own one-line message (it names itself)
        except EditorFailed as err:
            raise MethodError(str(err)) from None
        except Exception as err:  # noqa: BLE001 - the editor's code may raise anything
            why = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            raise MethodError(f"method {self.name!r} ({self.label}): check raised {why}") from None
        self._checked.add(seen)

    def edit_units(self, jobs: Sequence[EditJob]) -> list[tuple[tuple[EditJob, ...], int]]:
        """One edit per unit: each is timed alone and stored as soon as it is made."""
        return [((job,), 1) for job in sorted(jobs, key=lambda j: j.key)]

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
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - the editor's code may raise anything
            why = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            raise EditorFailed(
                f"method {self.name!r} ({self.label}) raised in {what}: {why}"
            ) from err

    def run_unit(self, runtime, jobs, counter) -> list[EditOutput]:
        out = []
        for job in jobs:
            s = job.settings
            source = prepared_source(job.image, (s["height"], s["width"]))
            kwargs = dict(s["knobs"])
            if job.finetune:
                kwargs["trained"] = runtime.trained(job.finetune)
            where = f"edit of item {job.item!r} to {job.prompt!r}"
            args = (source, s["source_prompt"], job.prompt, s["seed"])
            measured = measure(self._call, where, self.editor().edit, *args, **kwargs)
            self._check_output(measured.image, s["height"], s["width"], where)
            out.append(measured)
        return out

    def _check_output(self, image: Any, height: int, width: int, where: str) -> None:
        from PIL import Image

        head = f"method {self.name!r} ({self.label}): {where}"
        if not isinstance(image, Image.Image):
            raise EditorOutputError(f"{head} returned {type(image).__name__}, not a PIL image")
        if image.size != (width, height):
            w, h = image.size
            raise EditorOutputError(
                f"{head} is {w}x{h} (width x height), the source it got {width}x{height}: "
                "an edit must keep the source's size (nothing is resized)"
            )

    def train(self, model, image, job: FinetuneJob, folder: Path) -> None:
        from ..images import open_image

        source, _ = open_image(job.image)
        self._call("train", self.editor().train, source, job.prompt, folder)

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
