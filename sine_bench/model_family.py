"""Which kind of diffusers checkpoint a model is, read from its files without loading it.

sine-bench runs Stable Diffusion 1.x / 2.x (``StableDiffusionPipeline``: one CLIP text
encoder, a 4-channel latent UNet, any of the three prediction types). Anything else,
SDXL first of all (its second text encoder would be dropped and diffusers fails deep
inside with a TypeError), is refused here, at plan time, in one line naming the family.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError


class UnsupportedModelError(InputError):
    """The checkpoint is of a family (pipeline class) sine-bench cannot run."""


BUILTIN_MODELS = ("tiny-random", "toy")
TOY_DIR = Path(__file__).parent / "toy" / "weights" / "sd"  # the embedded toy-world model
SUPPORTED_PIPELINE = "StableDiffusionPipeline"
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
FAMILY_NAMES = {
    "StableDiffusionXLPipeline": "SDXL",
    "StableDiffusionXLImg2ImgPipeline": "SDXL refiner",
    "StableDiffusionXLInpaintPipeline": "SDXL inpainting",
    "StableDiffusion3Pipeline": "Stable Diffusion 3",
    "FluxPipeline": "FLUX",
    "StableDiffusionInpaintPipeline": "Stable Diffusion inpainting",
    "StableDiffusionUpscalePipeline": "Stable Diffusion x4 upscaler",
    "StableDiffusionDepth2ImgPipeline": "Stable Diffusion depth-to-image",
    "StableUnCLIPPipeline": "Stable unCLIP",
    "StableCascadeCombinedPipeline": "Stable Cascade",
    "KandinskyV22Pipeline": "Kandinsky 2.2",
    "PixArtAlphaPipeline": "PixArt-alpha",
    "IFPipeline": "DeepFloyd IF",
}


@dataclass(frozen=True)
class ModelFamily:
    """What a checkpoint is: its pipeline class, prediction type, text encoder class and
    UNet input channels (None where the files do not say)."""

    pipeline: str
    prediction_type: str = "epsilon"
    text_encoder: str | None = "CLIPTextModel"
    unet_in_channels: int | None = 4


# Well-known hub checkpoints, from their published model_index / scheduler configs:
# lets ``plan`` refuse (or accept) them offline, before anything is downloaded.
KNOWN_HUB_FAMILIES: dict[str, ModelFamily] = {
    **{
        name: ModelFamily(SUPPORTED_PIPELINE)
        for name in (
            "CompVis/stable-diffusion-v1-1",
            "CompVis/stable-diffusion-v1-2",
            "CompVis/stable-diffusion-v1-3",
            "CompVis/stable-diffusion-v1-4",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            "stabilityai/stable-diffusion-2-base",
            "stabilityai/stable-diffusion-2-1-base",
        )
    },
    "stabilityai/stable-diffusion-2": ModelFamily(SUPPORTED_PIPELINE, "v_prediction"),
    "stabilityai/stable-diffusion-2-1": ModelFamily(SUPPORTED_PIPELINE, "v_prediction"),
    "stabilityai/stable-diffusion-xl-base-1.0": ModelFamily("StableDiffusionXLPipeline"),
    "stabilityai/stable-diffusion-xl-refiner-1.0": ModelFamily("StableDiffusionXLImg2ImgPipeline"),
    "stabilityai/sdxl-turbo": ModelFamily("StableDiffusionXLPipeline"),
    "stabilityai/stable-diffusion-3-medium-diffusers": ModelFamily("StableDiffusion3Pipeline"),
    "black-forest-labs/FLUX.1-dev": ModelFamily("FluxPipeline"),
    "black-forest-labs/FLUX.1-schnell": ModelFamily("FluxPipeline"),
    "stabilityai/stable-diffusion-2-inpainting": ModelFamily(
        "StableDiffusionInpaintPipeline", unet_in_channels=9
    ),
}


def is_hub_id(name: str) -> bool:
    """``owner/name`` that is not a local directory."""
    return name.count("/") == 1 and not name.startswith((".", "/")) and not Path(name).is_dir()


def _read_json(path: Path | str | None) -> dict | None:
    if path is None or not Path(path).is_file():
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def family_of_files(index: dict, scheduler: dict | None, unet: dict | None) -> ModelFamily:
    """A family from a model_index.json and (optionally) the scheduler and UNet configs."""
    pipeline = index.get("_class_name", "?")
    text = index.get("text_encoder")
    text_class = text[1] if isinstance(text, list) and len(text) == 2 else None
    prediction = (scheduler or {}).get("prediction_type", "epsilon")
    channels = (unet or {}).get("in_channels")
    return ModelFamily(str(pipeline), str(prediction), text_class, channels)


def local_family(folder: str | Path) -> ModelFamily | None:
    """The family of a diffusers directory (None without a model_index.json)."""
    folder = Path(folder)
    index = _read_json(folder / "model_index.json")
    if index is None:
        return None
    scheduler = _read_json(folder / "scheduler" / "scheduler_config.json")
    return family_of_files(index, scheduler, _read_json(folder / "unet" / "config.json"))


def cached_hub_family(name: str, revision: str = "main") -> ModelFamily | None:
    """A hub model's family from the local hub cache alone (no network), else the table
    of well-known checkpoints, else None."""
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> str | None:
        found = try_to_load_from_cache(name, filename, revision=revision)
        return found if isinstance(found, str) else None

    index = _read_json(cached("model_index.json"))
    if index is not None:
        scheduler = _read_json(cached("scheduler/scheduler_config.json"))
        return family_of_files(index, scheduler, _read_json(cached("unet/config.json")))
    return KNOWN_HUB_FAMILIES.get(name)


def check_family(name: str, family: ModelFamily | None) -> None:
    """Refuse, in one line naming the family, a checkpoint sine-bench cannot run; None
    (not known yet, e.g. an uncached hub id) passes: the weights check handles it."""
    if family is None:
        return
    if family.pipeline != SUPPORTED_PIPELINE:
        label = FAMILY_NAMES.get(family.pipeline, family.pipeline)
        raise UnsupportedModelError(
            f"model {name!r}: {label} checkpoints ({family.pipeline}) are not supported; "
            f"sine-bench runs Stable Diffusion 1.x/2.x ({SUPPORTED_PIPELINE}) only"
        )
    if family.text_encoder not in (None, "CLIPTextModel"):
        raise UnsupportedModelError(
            f"model {name!r}: text encoder {family.text_encoder} is not supported "
            "(Stable Diffusion 1.x/2.x use CLIPTextModel)"
        )
    if family.unet_in_channels not in (None, 4):
        raise UnsupportedModelError(
            f"model {name!r}: its UNet takes {family.unet_in_channels} input channels "
            "(an inpainting or depth model); sine-bench needs a 4-channel text-to-image UNet"
        )
    if family.prediction_type not in PREDICTION_TYPES:
        raise UnsupportedModelError(
            f"model {name!r}: scheduler prediction_type {family.prediction_type!r} is not "
            f"supported (one of {', '.join(PREDICTION_TYPES)})"
        )


def model_family(name: str, revision: str = "main") -> ModelFamily | None:
    """What kind of checkpoint ``name`` (a built-in name, a local dir or a hub id) is,
    from local files alone (None: not known yet)."""
    if name == "tiny-random":
        return ModelFamily(SUPPORTED_PIPELINE)
    if name == "toy" or Path(name).is_dir():
        return local_family(TOY_DIR if name == "toy" else name)
    return cached_hub_family(name, revision) if is_hub_id(name) else None


def check_model(name: str, revision: str = "main") -> None:
    """Refuse a checkpoint family sine-bench cannot run (UnsupportedModelError), offline."""
    check_family(name, model_family(name, revision))
