"""Pretrained weights: whether they are in the local caches, and fetching them.

``plan`` and ``run`` never touch the network. They look for every weight in the local
caches (the Hugging Face hub cache, torch's hub cache) with plain file checks, which
take milliseconds whether or not the machine is online or ``HF_HUB_OFFLINE`` is set,
and name each one that is missing together with the one command that fetches them
all, to be run where there is a network (a login node):

    sine-bench fetch-weights PROTOCOL.yaml

Weights: the Stable Diffusion checkpoint of a hub model id; OpenAI CLIP ViT-B/32 for
``clip_*[ViT-B-32/openai]``; torchvision's ImageNet AlexNet / VGG16 for standard LPIPS;
DINO ViT-B/8 through timm for ``structure_dist_*[dino-vitb8]`` and ViT-S/16 for
``dino_target[dino-vits16]``.
LPIPS is optional: without it ``lpips[alex]`` is scored by the shipped shift-tolerant
network and labelled ``st_lpips[alex]``, so plan only notes it. Which files a metric
backbone reads is its record's (``metrics.backbones``); what a protocol needs is
``runner.weights_check``. This module imports neither.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import EnvironmentFailure

OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TIMM_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm reads from its hub repo
PIPELINE_PARTS = ("unet", "vae", "text_encoder")  # folders that hold weights
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class WeightsError(EnvironmentFailure):
    """A weights problem of the environment, not of the protocol (exit 1)."""


class MissingWeightsError(WeightsError):
    """Weights a run needs are not in the local caches."""

    def __init__(self, missing: list[Weight], fetch_command: str):
        self.missing = missing
        names = "; ".join(f"{w.label} (for {w.needed_by})" for w in missing)
        super().__init__(
            f"weights not in the local cache: {names}; fetch them where there is a network "
            f"with: {fetch_command}"
        )


@dataclass(frozen=True)
class Weight:
    """One set of pretrained weights: ``kind`` is hub-pipeline, open_clip, timm or
    torchvision.

    ``source`` says where the files come from: the hub repo open_clip or timm downloads from,
    or torchvision's URL (whose file name the torch hub cache keeps); the metric
    backbone records declare it."""

    kind: str
    name: str
    needed_by: str
    revision: str = "main"
    required: bool = True  # False: a shipped substitute stands in when it is absent
    source: str = ""

    @property
    def label(self) -> str:
        return {
            "hub-pipeline": f"Stable Diffusion checkpoint {self.name}@{self.revision}",
            "open_clip": f"open_clip {self.name}",
            "timm": f"timm {self.name}",
            "torchvision": f"torchvision ImageNet {self.name}net weights",
        }[self.kind]

    def cached_path(self) -> Path | None:
        """Where the weights are in the local cache (None if not, or incomplete)."""
        if self.kind == "hub-pipeline":
            return hub_snapshot(self.name, self.revision)
        if self.kind == "open_clip":
            return open_clip_file(self.source)
        if self.kind == "timm":
            return hub_file(self.source, TIMM_FILES)
        return torchvision_file(self.source)

    def fetch(self) -> Path:
        """Download into the standard cache (needs the network)."""
        if self.kind == "hub-pipeline":
            return _fetch_pipeline(self.name, self.revision)
        if self.kind == "open_clip":
            return _fetch_open_clip(self)
        if self.kind == "timm":
            return _fetch_timm(self)
        return _fetch_torchvision(self)


# --------------------------------------------------------------------------- cache lookups


def hub_snapshot(name: str, revision: str = "main") -> Path | None:
    """The local snapshot folder of a hub pipeline if every file a load needs is there
    (model_index.json, each part's config and weights, tokenizer and scheduler)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(name, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    if not (folder / "model_index.json").is_file():
        return None
    for part in PIPELINE_PARTS:
        files = list((folder / part).glob("*")) if (folder / part).is_dir() else []
        has_config = any(f.name == "config.json" for f in files)
        if not has_config or not any(f.name.endswith(WEIGHT_SUFFIXES) for f in files):
            return None
    if not (folder / "scheduler" / "scheduler_config.json").is_file():
        return None
    return folder if (folder / "tokenizer").is_dir() else None


def open_clip_file(repo: str) -> Path | None:
    """The cached checkpoint open_clip downloads from the hub repo ``repo``."""
    return hub_file(repo, OPEN_CLIP_FILES)


def hub_file(repo: str, filenames: tuple[str, ...]) -> Path | None:
    """The first of ``filenames`` cached from the hub repo ``repo`` (None if none is)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch when it is not loaded yet (the check
    must stay fast): $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub, else ~/.cache."""
    import sys

    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir())
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(home)) / "hub"


def torchvision_file(url: str) -> Path | None:
    """Where torch's hub cache keeps the file downloaded from ``url`` (None if absent)."""
    path = torch_hub_dir() / "checkpoints" / url.rsplit("/", 1)[1]
    return path if path.is_file() else None


def pipeline_fingerprint(folder: Path) -> str:
    """What loading the diffusers pipeline saved in ``folder`` reads, as one digest:
    ``model_index.json`` and every file of each component folder it names (configs,
    tokenizer files, weights; hidden files aside) by relative path, size and sha256.
    Weights are hashed once per version of each file (``file_digests``): fingerprinting
    a multi-GB checkpoint again costs a stat per file. An unreadable file is an OSError,
    a ``model_index.json`` that is not a JSON object a ValueError."""
    import hashlib
    import json

    from .file_digests import file_sha256s

    index = folder / "model_index.json"
    components = json.loads(index.read_text())  # ValueError when it is not JSON
    if not isinstance(components, dict):
        raise ValueError(f"{index} is not a JSON object")
    files = [index]
    for part in sorted(n for n in components if not n.startswith("_")):
        found = (p for p in (folder / part).rglob("*") if p.is_file())
        hidden = lambda p: any(n.startswith(".") for n in p.relative_to(folder).parts)  # noqa: E731
        files += sorted(p for p in found if not hidden(p))
    shas = file_sha256s(files)
    record = {f.relative_to(folder).as_posix(): [f.stat().st_size, shas[f]] for f in files}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# --------------------------------------------------------------------------- what a protocol needs


def model_weights(name: str, revision: str = "main") -> list[Weight]:
    """The checkpoint of a hub model id; built-in models and local dirs need nothing."""
    from .model_family import BUILTIN_MODELS, is_hub_id

    if name in BUILTIN_MODELS or Path(name).is_dir() or not is_hub_id(name):
        return []
    return [Weight("hub-pipeline", name, "model.name", revision)]


def fetch_command(
    protocol_path: str | Path | None = None,
    *,
    model: str | None = None,
    metrics: tuple[str, ...] = (),
) -> str:
    """The command line that fetches what is missing."""
    if protocol_path is not None:
        return f"sine-bench fetch-weights {protocol_path}"
    args = [f"--model {model}"] if model else []
    return " ".join(["sine-bench fetch-weights", *args, *(f"--metric '{m}'" for m in metrics)])


# --------------------------------------------------------------------------- fetching


def _online_or_fail() -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise WeightsError("HF_HUB_OFFLINE is set: fetching weights needs the network (unset it)")


def _fetched(weight: Weight) -> Path:
    path = weight.cached_path()
    if path is None:
        raise WeightsError(f"{weight.label}: downloaded, but still incomplete in the cache")
    return path


def _fetch_pipeline(name: str, revision: str) -> Path:
    """model_index.json first (an unsupported family is refused before gigabytes move),
    then what diffusers' own loader downloads (no safety checker: sine-bench skips it)."""
    import json

    from diffusers import DiffusionPipeline
    from huggingface_hub import hf_hub_download

    from .model_family import check_family, family_of_files

    _online_or_fail()
    index = Path(hf_hub_download(name, "model_index.json", revision=revision))
    check_family(name, family_of_files(json.loads(index.read_text()), None, None))
    DiffusionPipeline.download(name, revision=revision, safety_checker=None, feature_extractor=None)
    return _fetched(Weight("hub-pipeline", name, "model.name", revision))


def _fetch_open_clip(weight: Weight) -> Path:
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    _online_or_fail()
    arch, tag = weight.name.split("/")
    download_pretrained(get_pretrained_cfg(arch, tag))
    return _fetched(weight)


def _fetch_timm(weight: Weight) -> Path:
    """timm's checkpoint file from its hub repo (the one ``hub_file`` then finds)."""
    from huggingface_hub import hf_hub_download

    _online_or_fail()
    hf_hub_download(weight.source, TIMM_FILES[0])
    return _fetched(weight)


def _fetch_torchvision(weight: Weight) -> Path:
    """What torchvision's ``Weights.get_state_dict`` does: torch's hub download into its
    cache, checked against the hash prefix in the file name."""
    import torch

    _online_or_fail()
    torch.hub.load_state_dict_from_url(weight.source, progress=True, check_hash=True)
    return _fetched(weight)
