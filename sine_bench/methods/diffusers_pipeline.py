"""The ``diffusers-pipeline`` editor: any diffusers image-editing pipeline as a black box.

A black-box editor (``edit(source, source_prompt, target_prompt, seed, **knobs)``)
that loads a pipeline class by name from a local checkpoint folder and runs it:
InstructPix2Pix, LEDITS++, img2img, CycleDiffusion, ... The knobs say which class
(``pipeline``), which folder (``checkpoint``), how the dataset's prompts become the
pipeline's text (``prompt_template``), and pass the pipeline's own parameters through
by their diffusers names. How a pipeline is driven is read from its signatures:

- a class with an ``invert`` method (LEDITS++) runs ``invert`` on the source first,
  then ``__call__``; every other class runs ``__call__`` alone;
- ``image`` gets the source; ``height``/``width`` the source's size; ``generator`` one
  CPU ``torch.Generator`` seeded with ``seed`` (the same noise on every device);
- in ``invert``, every prompt parameter gets the source caption (inversion describes
  the source); in ``__call__``, ``prompt``/``editing_prompt`` get ``prompt_template``
  filled in with the dataset's prompt (a caption, or an instruction where the dataset
  gives one) and ``source_prompt`` the source caption;
- a class none of whose steps takes ``image`` (text-to-image) is refused;
- a knob goes to every step that names it; a knob set away from its default that no
  step takes, a key of ``extra`` no step takes, or a required parameter nothing fills
  is an error naming the pipeline (never silently ignored).

Nothing downloads: ``checkpoint`` is a local folder (or a hub id already in the local
cache). The output must have the source's size: a pipeline that rounds sizes (SD
pipelines work in multiples of the VAE factor, LEDITS++ in multiples of 32) is an
error naming the editor, never a silent resize. ``check`` (run by the harness while
planning) refuses bad knobs before any compute. Import-light: torch and diffusers are
imported when a check or an edit runs.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import string
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

EDITOR = "diffusers-pipeline"
DTYPES = ("float32", "float16", "bfloat16")
# the editor's own knobs: what to load and how the captions become the pipeline's text;
# what a load depends on comes first (the harness runs edits in this knob order, so
# each pipeline loads once per run)
OWN_KNOBS: dict[str, Any] = {
    "pipeline": "StableDiffusionInstructPix2PixPipeline",
    "checkpoint": "",
    "scheduler": "",  # "": the checkpoint's own; else a diffusers scheduler class name
    "dtype": "float32",
    "prompt_template": "{target_prompt}",
    # any other parameter of the pipeline's steps by its diffusers name, as a YAML
    # mapping in a string (knob values are scalars): "{eta: 1.0, edit_warmup_steps: 2}"
    "extra": "",
}
# pipeline parameters by their diffusers names, with this editor's defaults; each goes
# to the steps that take it (a value equal to its default is not an error elsewhere)
CALL_KNOBS: dict[str, Any] = {
    "num_inference_steps": 50,
    "guidance_scale": 7.5,
    "image_guidance_scale": 1.5,  # InstructPix2Pix
    "strength": 0.8,  # img2img-style pipelines
    "negative_prompt": "",  # "": the pipeline's default (no negative prompt)
    "num_inversion_steps": 50,  # LEDITS++ invert
    "skip": 0.15,  # LEDITS++ invert
    "source_guidance_scale": 3.5,  # LEDITS++ invert
    "edit_guidance_scale": 5.0,  # LEDITS++
    "edit_threshold": 0.9,  # LEDITS++
}
# parameters the editor fills itself; neither knobs nor ``extra`` may set them
FILLED = {"image", "height", "width", "generator", "output_type", "return_dict"}
FILLED |= {"prompt", "editing_prompt", "source_prompt"}
PLACEHOLDERS = ("source_prompt", "target_prompt")


class PipelineEditorError(InputError):
    """A knob, checkpoint or pipeline the editor cannot run with, or an output of the
    wrong size; the message names the editor and the pipeline class."""


class DiffusersPipelineEditor:
    """Any diffusers image-editing pipeline from a local checkpoint, as a black-box editor."""

    knobs: dict[str, Any] = OWN_KNOBS | CALL_KNOBS
    version = "1"  # part of its keys: bump when the same knobs give other pixels
    # a dataset's prompt (a caption or, on MagicBrush/GEdit, an instruction) goes through
    # prompt_template as it is: which kind suits is the chosen pipeline's (check_prompts)
    takes_instructions = True

    def __init__(self) -> None:
        self._loaded: tuple[tuple, Any] | None = None  # (what was loaded, the pipeline)

    def identity(self, **knobs: Any) -> dict[str, str]:
        """The checkpoint by content (``weights.pipeline_fingerprint``), part of every
        edit key: other weights at the same path recompute, unchanged ones do not."""
        from ..weights import pipeline_fingerprint

        k = self.knobs | knobs
        folder = checkpoint_folder(k)
        try:
            return {"checkpoint": pipeline_fingerprint(folder)}
        except (OSError, ValueError) as err:
            raise _error(k, f"checkpoint {folder}: cannot be read ({_first_line(err)})") from None

    def check_prompts(self, prompt_kind: str, **knobs: Any) -> None:
        """Refuse a pipeline that edits from captions on a dataset of instructions (a
        caption dataset suits every pipeline: ``prompt_template`` may phrase it)."""
        k = self.knobs | knobs
        why = caption_only(pipeline_class(k)) if prompt_kind == "instruction" else None
        if why:
            raise _error(
                k,
                f"edits from captions ({why}) and this dataset's prompts are instructions: "
                "choose an instruction-following pipeline (StableDiffusionInstructPix2PixPipeline"
                ", ...) or a dataset with captions",
            )

    def check(self, **knobs: Any) -> None:
        """Refuse, before any compute, knobs that cannot run: an unknown pipeline class,
        a missing checkpoint, a bad template or dtype, a knob the pipeline does not take."""
        k = self.knobs | knobs
        _fill(k, "source", "target")
        if k["dtype"] not in DTYPES:
            raise _error(k, f"knob 'dtype' must be one of {', '.join(DTYPES)}, got {k['dtype']!r}")
        checkpoint_folder(k)
        _plan_steps(pipeline_class(k), k)

    def edit(
        self, source: Image, source_prompt: str, target_prompt: str, seed: int, **knobs: Any
    ) -> Image:
        """The pipeline's edit of ``source`` (a PIL image), at the source's size."""
        import torch

        k = self.knobs | knobs
        text = _fill(k, source_prompt, target_prompt)
        pipe = self._pipeline(k)
        image = source.convert("RGB")
        generator = torch.Generator().manual_seed(int(seed))
        filled = {
            "image": image,
            "height": image.height,
            "width": image.width,
            "generator": generator,
        }
        result = None
        for step, params in _plan_steps(type(pipe), k):
            texts = (
                dict.fromkeys(("prompt", "editing_prompt", "source_prompt"), source_prompt)
                if step == "invert"
                else {"prompt": text, "editing_prompt": text, "source_prompt": source_prompt}
            )
            if step == "__call__":
                texts |= {"output_type": "pil", "return_dict": True}
            args = {n: v for n, v in (filled | texts).items() if n in params}
            args |= {n: v for n, v in _passed(k).items() if n in params}
            try:
                with torch.inference_mode():
                    result = getattr(pipe, step)(**args)
            except (ValueError, TypeError) as err:
                raise _error(k, f"{step} failed: {_first_line(err)}") from err
        out = _first_image(result, k)
        if out.size != image.size:
            raise _error(
                k,
                f"output is {out.width}x{out.height}, the source is {image.width}x"
                f"{image.height} (the pipeline rounds sizes: give sources it can keep)",
            )
        return out

    def _pipeline(self, k: dict[str, Any]) -> Any:
        """The loaded pipeline for these knobs and the checkpoint's content (new weights
        at the same path load again); one at a time (the last one is kept)."""
        what = (k["pipeline"], k["checkpoint"], k["scheduler"], k["dtype"], self.identity(**k))
        if self._loaded is None or self._loaded[0] != what:
            self._loaded = None  # free the previous pipeline before loading the next
            self._loaded = (what, load_pipeline(k))
        return self._loaded[1]


def load_pipeline(k: dict[str, Any]) -> Any:
    """``k['pipeline']`` from ``k['checkpoint']`` (local files only), on the GPU when
    there is one, without a safety checker, progress bars off."""
    import torch

    from ..sine.hf_compat import dtype_kwargs

    cls = pipeline_class(k)
    folder = checkpoint_folder(k)
    accepts = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {"local_files_only": True}
    kwargs |= dtype_kwargs("diffusers", getattr(torch, k["dtype"]))
    if "safety_checker" in accepts:  # edits are judged, not filtered (a filter blacks them out)
        kwargs |= {"safety_checker": None, "feature_extractor": None}
    if "requires_safety_checker" in accepts:
        kwargs["requires_safety_checker"] = False
    if k["scheduler"]:
        kwargs["scheduler"] = _scheduler(k, folder)
    with _quiet_diffusers():
        try:
            pipe = cls.from_pretrained(str(folder), **kwargs)
        except (OSError, ValueError, TypeError) as err:
            raise _error(k, f"cannot load {folder}: {_first_line(err)}") from err
    pipe.set_progress_bar_config(disable=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return pipe.to(device)


def pipeline_class(k: dict[str, Any]) -> type:
    """The pipeline class ``k['pipeline']`` names: a diffusers class name, or
    ``module:Class`` for one diffusers does not export (a community pipeline)."""
    import importlib

    import diffusers

    name = str(k["pipeline"])
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr, None)
        except ImportError as err:
            raise _error(k, f"knob 'pipeline': cannot import {module} ({err})") from None
    else:
        try:
            cls = getattr(diffusers, name, None)
        except (ImportError, RuntimeError) as err:  # a lazy name whose backend is missing
            raise _error(k, f"knob 'pipeline': cannot import {name} ({err})") from None
    if not (isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)):
        names = [n for n in dir(diffusers) if n.endswith("Pipeline")]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "a diffusers pipeline class"
        raise _error(k, f"knob 'pipeline': {name!r} is not a diffusers pipeline class ({hint})")
    return cls


def checkpoint_folder(k: dict[str, Any]) -> Path:
    """The local folder of ``k['checkpoint']``: a diffusers pipeline folder, or a hub id
    already in the local cache (nothing downloads)."""
    name = str(k["checkpoint"])
    if not name:
        raise _error(k, "knob 'checkpoint' is required: a local diffusers pipeline folder")
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "model_index.json").is_file():
            raise _error(k, f"checkpoint {name}: no model_index.json (not a diffusers folder)")
        return folder
    cached = _hub_cache(name)
    if cached is None:
        raise _error(
            k,
            f"checkpoint {name}: no such folder, nor a hub id in the local cache "
            "(sine-bench downloads nothing: fetch it first)",
        )
    return cached


def _hub_cache(name: str) -> Path | None:
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "model_index.json")
    except ValueError:  # not a valid repo id
        return None
    return Path(found).parent if isinstance(found, str) else None


def _scheduler(k: dict[str, Any], folder: Path) -> Any:
    import diffusers

    cls = getattr(diffusers, str(k["scheduler"]), None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        names = [n for n in dir(diffusers) if n.endswith("Scheduler")]
        close = difflib.get_close_matches(str(k["scheduler"]), names, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise _error(k, f"knob 'scheduler': {k['scheduler']!r} is not a scheduler{hint}")
    config = cls.load_config(str(folder), subfolder="scheduler", local_files_only=True)
    return cls.from_config(config)


def caption_only(cls: type) -> str | None:
    """Why pipeline ``cls`` edits from captions, not instructions (None: it may take
    instructions), read from its steps: an ``invert`` step inverts the source from its
    caption (LEDITS++, DiffEdit, Pix2Pix-Zero); a ``source_prompt`` or ``editing_prompt``
    describes the source or a concept (CycleDiffusion, LEDITS++); ``strength``
    (img2img, SDEdit) denoises towards a prompt that describes the result. Instruction
    pipelines (InstructPix2Pix, Kontext, Qwen-Image-Edit) take none of these."""
    if callable(getattr(cls, "invert", None)):
        return "it inverts the source from its caption"
    params = set(inspect.signature(cls.__call__).parameters)
    for name in ("source_prompt", "editing_prompt"):
        if name in params:
            return f"it takes {name}"
    if "strength" in params:
        return "it takes strength: img2img towards a caption of the result"
    return None


def _plan_steps(cls: type, k: dict[str, Any]) -> list[tuple[str, set[str]]]:
    """(method, its named parameters) of each step, after checking that every set knob
    and every ``extra`` key reaches a step and every required parameter is filled."""
    steps = ["invert", "__call__"] if callable(getattr(cls, "invert", None)) else ["__call__"]
    plan = []
    for step in steps:
        signature = inspect.signature(getattr(cls, step))
        named = {
            p.name: p
            for p in list(signature.parameters.values())[1:]
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        plan.append((step, set(named)))
        passed = set(_passed(k)) | FILLED
        missing = [n for n, p in named.items() if p.default is p.empty and n not in passed]
        if missing:
            raise _error(k, f"{step} needs {', '.join(missing)}, which this editor does not make")
    taken = set().union(*(params for _, params in plan))
    if "image" not in taken:  # text-to-image: its output would not be an edit of the source
        raise _error(k, f"{cls.__name__} takes no image: not an image-editing pipeline")
    for name in _extra(k):
        if name in FILLED or name in CALL_KNOBS:
            raise _error(k, f"knob 'extra': {name!r} is set by the editor or a knob, not here")
        if name not in taken:
            raise _error(k, f"knob 'extra': {cls.__name__} takes no parameter {name!r}")
    for name, default in CALL_KNOBS.items():
        if name not in taken and k[name] != default:
            raise _error(k, f"knob {name!r}: {cls.__name__} takes no such parameter")
    return plan


def _passed(k: dict[str, Any]) -> dict[str, Any]:
    """The pipeline parameters the knobs set (``negative_prompt`` "" sets nothing)."""
    passed = {n: k[n] for n in CALL_KNOBS if not (n == "negative_prompt" and not k[n])}
    return passed | _extra(k)


def _extra(k: dict[str, Any]) -> dict[str, Any]:
    """The ``extra`` knob's mapping (a YAML mapping in a string; "" for none)."""
    import yaml

    text = str(k["extra"]).strip()
    try:
        extra = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as err:
        raise _error(k, f"knob 'extra': not YAML ({_first_line(err)})") from None
    if not isinstance(extra, dict) or not all(isinstance(n, str) for n in extra):
        raise _error(k, f"knob 'extra': {text!r} is not a mapping of parameter names to values")
    return extra


def _fill(k: dict[str, Any], source_prompt: str, target_prompt: str) -> str:
    """``k['prompt_template']`` with its ``{source_prompt}``/``{target_prompt}`` filled in."""
    template = str(k["prompt_template"])
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        raise _error(k, f"knob 'prompt_template': {err}") from None
    unknown = [f for f in fields if f not in PLACEHOLDERS]
    if unknown:
        raise _error(
            k,
            f"knob 'prompt_template': unknown placeholder {{{unknown[0]}}} "
            "(use {source_prompt} and {target_prompt})",
        )
    return template.format(source_prompt=source_prompt, target_prompt=target_prompt)


def _first_image(result: Any, k: dict[str, Any]) -> Image:
    import PIL.Image

    images = getattr(result, "images", None)
    if images is None and isinstance(result, (tuple, list)):
        images = result[0]
    image = images[0] if isinstance(images, (list, tuple)) and images else images
    if not isinstance(image, PIL.Image.Image):
        raise _error(k, f"returned {type(image).__name__}, not a PIL image")
    return image


@contextlib.contextmanager
def _quiet_diffusers() -> Iterator[None]:
    """Loading draws progress bars and logs notices (a swapped scheduler, no safety
    checker) on stderr, where a command prints one line per error; restored after."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    verbosity = dlog.get_verbosity()
    bars = [m for m in (dlog, tlog) if m.is_progress_bar_enabled()]
    dlog.set_verbosity_error()
    for module in bars:
        module.disable_progress_bar()
    try:
        yield
    finally:
        dlog.set_verbosity(verbosity)
        for module in bars:
            module.enable_progress_bar()


def _error(k: dict[str, Any], what: str) -> PipelineEditorError:
    return PipelineEditorError(f"{EDITOR} editor ({k['pipeline']}): {what}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
