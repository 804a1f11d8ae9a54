"""The one place that turns a model name into loaded components.

Names: ``tiny-random`` (random SD-architecture model for tests and plumbing),
``toy`` (the embedded toy-world model, once shipped), a local diffusers directory,
or a Hugging Face hub id. Real checkpoints load through diffusers' pipeline
loader, so any SD 1.x/2.x repository layout works.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InputError
from ..model_family import (
    BUILTIN_MODELS,
    TOY_DIR,
    check_family,
    is_hub_id,
    local_family,
)
from ..sine.components import DiffusionModel
from ..sine.hf_compat import dtype_kwargs


class UnknownModelError(InputError):
    """The model name is neither built in, a local diffusers dir, nor a hub id."""


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_precision(dtype: str, device: str = "auto") -> None:
    """Refuse, at plan time, a precision this machine's device cannot train in: bfloat16
    on a GPU without bfloat16 support (before Ampere). float16 and bfloat16 otherwise
    train in mixed precision (sine.precision); float16 on a CPU works but is slow."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(DTYPES)}")
    target = resolve_device(device)
    on_gpu = target.type == "cuda" and torch.cuda.is_available()
    if dtype == "bfloat16" and on_gpu and not torch.cuda.is_bf16_supported(False):
        raise UnsupportedPrecisionError(
            f"model.dtype: bfloat16 is not supported by {torch.cuda.get_device_name(target)}"
            " (use float16 or float32)"
        )


class UnsupportedPrecisionError(InputError):
    """A model.dtype the device cannot compute (and train) in."""


def load_diffusers_dir(
    path: str | Path, dtype: torch.dtype = torch.float32, name: str | None = None
) -> DiffusionModel:
    """A Stable Diffusion checkpoint in diffusers format (a local dir, e.g. a hub
    snapshot); other families are refused before diffusers tries them."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    check_family(name or str(path), local_family(path))
    pipe = StableDiffusionPipeline.from_pretrained(
        str(path),
        **dtype_kwargs("diffusers", dtype),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    # The paper's sampler: DDIM with the checkpoint's own training schedule.
    scheduler = DDIMScheduler.from_config(
        pipe.scheduler.config,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        timestep_spacing="leading",
    )
    return DiffusionModel(pipe.vae, pipe.unet, pipe.text_encoder, pipe.tokenizer, scheduler)


def load_model(
    name: str,
    *,
    device: str = "auto",
    dtype: str = "float32",
    seed: int = 0,
    revision: str = "main",
) -> DiffusionModel:
    """Load ``name`` ("tiny-random", "toy", a local diffusers dir or a hub id, which must
    be in the local hub cache: loading never downloads, see sine_bench.weights)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(DTYPES)}")
    torch_dtype = DTYPES[dtype]
    if name == "tiny-random":
        from .tiny_random import build_tiny_random

        model = build_tiny_random(seed)
    elif name == "toy":
        if not (TOY_DIR / "model_index.json").exists():
            raise UnknownModelError(
                "model 'toy': the embedded toy-world weights are not in this installation "
                f"({TOY_DIR} is missing)"
            )
        model = load_diffusers_dir(TOY_DIR, torch_dtype)
    elif Path(name).is_dir():
        if not (Path(name) / "model_index.json").exists():
            raise UnknownModelError(f"model {name!r}: directory has no model_index.json")
        model = load_diffusers_dir(name, torch_dtype)
    elif is_hub_id(name):
        from ..weights import MissingWeightsError, fetch_command, model_weights

        folder = model_weights(name, revision)[0].cached_path()
        if folder is None:
            raise MissingWeightsError(model_weights(name, revision), fetch_command(model=name))
        model = load_diffusers_dir(folder, torch_dtype, name)
    else:
        raise UnknownModelError(_unknown(name))
    target = resolve_device(device)
    for module in (model.vae, model.unet, model.text_encoder):
        if next(module.parameters()).dtype != torch_dtype:
            module.to(dtype=torch_dtype)
        module.to(device=target).eval().requires_grad_(False)
    return model


def _unknown(name: str) -> str:
    return (
        f"unknown model {name!r}: not built in ({', '.join(BUILTIN_MODELS)}), not a local "
        "diffusers directory, and not a hub id of the form owner/name"
    )


# (native resolution, VAE factor) of well-known hub checkpoints, from their published
# unet/vae configs: lets ``plan`` work offline before the weights are downloaded.
KNOWN_HUB_GEOMETRY: dict[str, tuple[int, int]] = {
    "CompVis/stable-diffusion-v1-1": (512, 8),
    "CompVis/stable-diffusion-v1-2": (512, 8),
    "CompVis/stable-diffusion-v1-3": (512, 8),
    "CompVis/stable-diffusion-v1-4": (512, 8),
    "stable-diffusion-v1-5/stable-diffusion-v1-5": (512, 8),
    "stabilityai/stable-diffusion-2-base": (512, 8),
    "stabilityai/stable-diffusion-2-1-base": (512, 8),
    "stabilityai/stable-diffusion-2": (768, 8),
    "stabilityai/stable-diffusion-2-1": (768, 8),
}


def _cached_hub_configs(name: str, revision: str) -> tuple[dict, dict] | None:
    """The unet and vae configs of a hub model from the local cache alone (None when
    they are not there); never the network."""
    import json

    from huggingface_hub import try_to_load_from_cache

    configs = []
    for part in ("unet", "vae"):
        found = try_to_load_from_cache(name, f"{part}/config.json", revision=revision)
        if not isinstance(found, str):
            return None
        configs.append(json.loads(Path(found).read_text()))
    return configs[0], configs[1]


def model_geometry(name: str, revision: str = "main") -> tuple[int, int]:
    """(native square resolution in pixels, VAE factor) without loading any weights.

    Hub ids are read from the local cache, else from ``KNOWN_HUB_GEOMETRY``; an unknown
    uncached hub id is a MissingWeightsError (planning never touches the network)."""
    import json

    if name == "tiny-random":
        from .tiny_random import tiny_unet, tiny_vae

        return tiny_unet().config.sample_size * 4, 2 ** (
            len(tiny_vae().config.block_out_channels) - 1
        )
    if name == "toy" or Path(name).is_dir():
        folder = TOY_DIR if name == "toy" else Path(name)
        if not (folder / "model_index.json").exists():
            what = "the embedded toy-world weights are not in this installation"
            raise UnknownModelError(
                f"model {name!r}: {what if name == 'toy' else 'no model_index.json'}"
            )
        unet = json.loads((folder / "unet" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
    elif is_hub_id(name):
        cached = _cached_hub_configs(name, revision)
        if cached is None and name in KNOWN_HUB_GEOMETRY:
            return KNOWN_HUB_GEOMETRY[name]
        if cached is None:
            from ..weights import MissingWeightsError, fetch_command, model_weights

            raise MissingWeightsError(model_weights(name, revision), fetch_command(model=name))
        unet, vae = cached
    else:
        raise UnknownModelError(_unknown(name))
    size = unet["sample_size"]
    size = size[0] if isinstance(size, (list, tuple)) else size
    factor = 2 ** (len(vae["block_out_channels"]) - 1)
    return int(size) * factor, factor


def model_tokenizer(name: str, revision: str = "main"):
    """The model's tokenizer without loading weights (to measure prompts up front).

    Hub models: the cached one, else the CLIP BPE tokenizer every SD 1.x/2.x text
    encoder uses (77 tokens), built offline."""
    from transformers import CLIPTokenizer

    from ..tokenizer import offline_clip_tokenizer

    if name == "tiny-random":
        return offline_clip_tokenizer()
    if name == "toy" or Path(name).is_dir():
        folder = TOY_DIR if name == "toy" else Path(name)
        return CLIPTokenizer.from_pretrained(folder / "tokenizer")
    from huggingface_hub import try_to_load_from_cache

    # (from_pretrained with local_files_only may return an empty tokenizer when
    # nothing is cached, so look for the files first)
    found = try_to_load_from_cache(name, "tokenizer/tokenizer_config.json", revision=revision)
    if isinstance(found, str):
        return CLIPTokenizer.from_pretrained(Path(found).parent)
    return offline_clip_tokenizer()


def save_model(model: DiffusionModel, path: str | Path) -> None:
    """Save all components as a diffusers StableDiffusionPipeline directory."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=model.vae,
        text_encoder=model.text_encoder,
        tokenizer=model.tokenizer,
        unet=model.unet,
        scheduler=model.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(path))
