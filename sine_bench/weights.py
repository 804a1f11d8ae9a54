"""The pretrained weights a protocol needs: whether they are cached, and fetching them.

``plan`` and ``run`` never touch the network. They look for every weight in the local
caches (the Hugging Face hub cache, torch's hub cache) with plain file checks, which
take milliseconds whether or not the machine is online or ``HF_HUB_OFFLINE`` is set,
and name each one that is missing together with the one command that fetches them
all, to be run where there is a network (a login node):

    sine-bench fetch-weights PROTOCOL.yaml

Weights: the Stable Diffusion checkpoint of a hub model id; OpenAI CLIP ViT-B/32 for
``clip_*[ViT-B-32/openai]``; torchvision's ImageNet AlexNet / VGG16 for standard LPIPS.
LPIPS is optional: without it ``lpips[alex]`` is scored by the shipped shift-tolerant
network and labelled ``st_lpips[alex]``, so plan only notes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import EnvironmentFailure

# open_clip's download location for ("ViT-B-32", "openai") (its pretrained config's
# ``hf_hub``; pinned by a test against the installed open_clip).
OPENAI_CLIP_HUB = {"ViT-B-32/openai": "timm/vit_base_patch32_clip_224.openai"}
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TORCHVISION_URLS = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
}
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
    """One set of pretrained weights: ``kind`` is hub-pipeline, open_clip or torchvision."""

    kind: str
    name: str
    needed_by: str
    revision: str = "main"
    required: bool = True  # False: a shipped substitute stands in when it is absent

    @property
    def label(self) -> str:
        return {
            "hub-pipeline": f"Stable Diffusion checkpoint {self.name}@{self.revision}",
            "open_clip": f"open_clip {self.name}",
            "torchvision": f"torchvision ImageNet {self.name}net weights",
        }[self.kind]

    def cached_path(self) -> Path | None:
        """Where the weights are in the local cache (None if not, or incomplete)."""
        if self.kind == "hub-pipeline":
            return hub_snapshot(self.name, self.revision)
        if self.kind == "open_clip":
            return open_clip_file(self.name)
        return torchvision_file(self.name)

    def fetch(self) -> Path:
        """Download into the standard cache (needs the network)."""
        if self.kind == "hub-pipeline":
            return _fetch_pipeline(self.name, self.revision)
        if self.kind == "open_clip":
            return _fetch_open_clip(self.name)
        return _fetch_torchvision(self.name)


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


def open_clip_file(name: str) -> Path | None:
    """The cached checkpoint open_clip would download for ``name`` (e.g. ViT-B-32/openai)."""
    from huggingface_hub import try_to_load_from_cache

    repo = OPENAI_CLIP_HUB[name]
    for filename in OPEN_CLIP_FILES:
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


def torchvision_file(net: str) -> Path | None:
    path = torch_hub_dir() / "checkpoints" / TORCHVISION_URLS[net].rsplit("/", 1)[1]
    return path if path.is_file() else None


# --------------------------------------------------------------------------- what a protocol needs


def model_weights(name: str, revision: str = "main") -> list[Weight]:
    """The checkpoint of a hub model id; built-in models and local dirs need nothing."""
    from .model_family import BUILTIN_MODELS, is_hub_id

    if name in BUILTIN_MODELS or Path(name).is_dir() or not is_hub_id(name):
        return []
    return [Weight("hub-pipeline", name, "model.name", revision)]


def metric_weights(metrics: list[str]) -> list[Weight]:
    """Weights of the metrics' backbones (shipped and test backbones need none)."""
    from .metrics.registry import check_metric_name

    found: dict[tuple[str, str], Weight] = {}
    for text in metrics:
        for kind, backbone in check_metric_name(text).backbones().items():
            if kind == "clip" and backbone in OPENAI_CLIP_HUB:
                found.setdefault(("open_clip", backbone), Weight("open_clip", backbone, text))
            elif kind == "lpips" and backbone in TORCHVISION_URLS:
                weight = Weight("torchvision", backbone, text, required=False)
                found.setdefault(("torchvision", backbone), weight)
    return list(found.values())


def protocol_weights(protocol) -> list[Weight]:
    return model_weights(protocol.model.name, protocol.model.revision) + metric_weights(
        protocol.metrics
    )


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


def check_weights(protocol, protocol_path: str | Path | None = None) -> list[Weight]:
    """Raise :class:`MissingWeightsError` naming every required weight that is not
    cached; returns the optional ones that are missing (for a note)."""
    missing = [w for w in protocol_weights(protocol) if w.cached_path() is None]
    required = [w for w in missing if w.required]
    if required:
        models = [w.name for w in required if w.kind == "hub-pipeline"]
        metrics = tuple(w.needed_by for w in required if w.kind != "hub-pipeline")
        command = fetch_command(protocol_path, model=models[0] if models else None, metrics=metrics)
        raise MissingWeightsError(required, command)
    return missing


def optional_weight_note(weight: Weight, protocol_path: str | Path | None) -> str:
    return (
        f"note: {weight.label} not cached: {weight.needed_by} is scored with the shipped "
        f"shift-tolerant network (st_lpips); for standard LPIPS: {fetch_command(protocol_path)}"
    )


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


def _fetch_open_clip(name: str) -> Path:
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    _online_or_fail()
    arch, tag = name.split("/")
    download_pretrained(get_pretrained_cfg(arch, tag))
    return _fetched(Weight("open_clip", name, "metric"))


def _fetch_torchvision(net: str) -> Path:
    """torchvision's own download (hash-checked) into torch's hub cache."""
    from torchvision.models import AlexNet_Weights, VGG16_Weights

    _online_or_fail()
    enum = {"alex": AlexNet_Weights, "vgg": VGG16_Weights}[net].IMAGENET1K_V1
    enum.get_state_dict(progress=True, check_hash=True)
    return _fetched(Weight("torchvision", net, "metric"))
