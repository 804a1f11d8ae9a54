"""Backbone records: the networks metrics run on, one record per (kind, name).

A record holds how to build the backbone (a lazy factory: torch loads only when a run
scores), what identifies its weights without loading them (that string enters every
score key, so retrained weights never reuse stale scores), and the pretrained weight
files to fetch. CLIP backbones have ``.encode_images(images01 (B,3,H,W))`` and
``.encode_texts(list[str])`` returning L2-normalised embeddings; LPIPS backbones have
``.name`` (``lpips[alex]`` or ``st_lpips[alex]``) and ``__call__(a01, b01) -> (B,)``;
DINO backbones have ``.keys(normalised images) -> (B, tokens, dim)`` and
``.cls(normalised images) -> (B, dim)`` (metrics/dino.py).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..registry import Registry
from ..weights import Weight
from .names import MetricError


@dataclass(frozen=True)
class Backbone:
    """One backbone: factory, identity (for score keys) and the weights it reads."""

    kind: str  # "clip", "lpips" or "dino"
    name: str
    factory: Callable[[], Any]
    identity: Callable[[], str] | None = None  # None: "kind:name" (shipped test fakes)
    # pretrained files a fetch puts in the local cache; ``needed_by`` is filled per metric
    weights: tuple[Weight, ...] = field(default=())

    def key_identity(self) -> str:
        """What changes when the backbone's weights (or which network loads) change."""
        return self.identity() if self.identity else f"{self.kind}:{self.name}"


def _lazy(module: str, func: str, **kwargs: Any) -> Callable[[], Any]:
    """A factory that imports ``module`` only when the backbone is first needed."""

    def factory() -> Any:
        return getattr(importlib.import_module(module), func)(**kwargs)

    return factory


def _files_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def _package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _toy_clip_identity() -> str:
    return "toy-clip:" + _files_digest(Path(__file__).parents[1] / "toy" / "weights" / "clip")


def _open_clip_identity() -> str:
    return "open_clip:ViT-B-32/openai:quickgelu:" + _package_version("open_clip_torch")


def _open_clip_l14_identity() -> str:
    return "open_clip:ViT-L-14/openai:quickgelu:" + _package_version("open_clip_torch")


def _dino_identity(arch: str) -> Callable[[], str]:
    return lambda: f"timm:{arch}.dino:" + _package_version("timm")


def standard_weights_cached(kind: str, name: str) -> bool:
    """Whether every pretrained file of a backbone is in the local cache (file checks)."""
    weights = BACKBONES[kind].get(name).weights
    return bool(weights) and all(w.cached_path() is not None for w in weights)


def _lpips_identity(net: str) -> Callable[[], str]:
    """Which LPIPS would load (standard if its ImageNet weights are cached, else the
    shipped shift-tolerant network), with its package version."""

    def identity() -> str:
        if standard_weights_cached("lpips", net):
            return f"lpips[{net}]:{_package_version('lpips')}"
        return f"st_lpips[{net}]:{_package_version('stlpips-pytorch')}"

    return identity


def _torchvision(net: str, url: str) -> Weight:
    # optional: without it the shipped shift-tolerant network scores (and is labelled so)
    return Weight("torchvision", net, "", required=False, source=url)


def _records(kind: str, *records: Backbone) -> Registry[Backbone]:
    return Registry(f"{kind} backbone", MetricError, {r.name: r for r in records})


# kind -> name -> record. The open_clip repo is open_clip's pretrained config ``hf_hub``
# and the URLs torchvision's IMAGENET1K_V1 (both pinned by tests/test_weights.py).
OPENAI_CLIP = Weight(
    "open_clip", "ViT-B-32/openai", "", source="timm/vit_base_patch32_clip_224.openai"
)
OPENAI_CLIP_L14 = Weight(
    "open_clip", "ViT-L-14/openai", "", source="timm/vit_large_patch14_clip_224.openai"
)
TORCHVISION = "https://download.pytorch.org/models/"
# timm's pretrained config of vit_base_patch8_224.dino names this hub repo (DINO's own
# ViT-B/8 checkpoint, converted): pinned by tests/metrics/test_structure_dist.py
DINO_VITB8 = Weight("timm", "vit_base_patch8_224.dino", "", source="timm/vit_base_patch8_224.dino")
# MagicBrush's DINO network (torch.hub dino_vits16), the same checkpoint timm converts:
# pinned by tests/metrics/test_target.py
DINO_VITS16 = Weight(
    "timm", "vit_small_patch16_224.dino", "", source="timm/vit_small_patch16_224.dino"
)
BACKBONES: dict[str, Registry[Backbone]] = {
    "clip": _records(
        "clip",
        Backbone("clip", "toy", _lazy("sine_bench.toy.clip", "load_toy_clip"), _toy_clip_identity),
        Backbone(
            "clip",
            "ViT-B-32/openai",
            _lazy("sine_bench.metrics.clip", "load_open_clip", arch="ViT-B-32"),
            _open_clip_identity,
            (OPENAI_CLIP,),
        ),
        # PIE-Bench's CLIP score network (its torchmetrics CLIPScore loads the same
        # OpenAI weights from openai/clip-vit-large-patch14)
        Backbone(
            "clip",
            "ViT-L-14/openai",
            _lazy("sine_bench.metrics.clip", "load_open_clip", arch="ViT-L-14"),
            _open_clip_l14_identity,
            (OPENAI_CLIP_L14,),
        ),
    ),
    "lpips": _records(
        "lpips",
        Backbone(
            "lpips",
            "alex",
            _lazy("sine_bench.metrics.lpips_backend", "load_lpips", net="alex"),
            _lpips_identity("alex"),
            (_torchvision("alex", TORCHVISION + "alexnet-owt-7be5be79.pth"),),
        ),
        Backbone(
            "lpips",
            "vgg",
            _lazy("sine_bench.metrics.lpips_backend", "load_lpips", net="vgg"),
            _lpips_identity("vgg"),
            (_torchvision("vgg", TORCHVISION + "vgg16-397923af.pth"),),
        ),
        # PIE-Bench's LPIPS; standard only (no shift-tolerant SqueezeNet ships)
        Backbone(
            "lpips",
            "squeeze",
            _lazy("sine_bench.metrics.lpips_backend", "load_lpips_squeeze"),
            lambda: f"lpips[squeeze]:{_package_version('lpips')}",
            (
                Weight(
                    "torchvision",
                    "squeeze",
                    "",
                    source=TORCHVISION + "squeezenet1_1-b8a52dc0.pth",
                ),
            ),
        ),
    ),
    "dino": _records(
        "dino",
        Backbone(
            "dino",
            "dino-vitb8",
            _lazy("sine_bench.metrics.dino", "load_dino", name="dino-vitb8"),
            _dino_identity("vit_base_patch8_224"),
            (DINO_VITB8,),
        ),
        Backbone(
            "dino",
            "dino-vits16",
            _lazy("sine_bench.metrics.dino", "load_dino", name="dino-vits16"),
            _dino_identity("vit_small_patch16_224"),
            (DINO_VITS16,),
        ),
    ),
}

_LOADED: dict[tuple[str, str], Any] = {}
_IDENTITY_CACHE: dict[tuple[str, str], str] = {}


def backbone_identity(kind: str, name: str) -> str:
    """The record's identity, computed once per process ("kind:name" when unregistered)."""
    if (kind, name) not in _IDENTITY_CACHE:
        known = kind in BACKBONES and name in BACKBONES[kind]
        record = BACKBONES[kind].get(name) if known else None
        _IDENTITY_CACHE[(kind, name)] = record.key_identity() if record else f"{kind}:{name}"
    return _IDENTITY_CACHE[(kind, name)]


def register_backbone(kind: str, name: str, factory: Callable[[], Any]) -> None:
    """Add a backbone (plugins; tests register clearly named fakes such as 'test-fake')."""
    BACKBONES[kind].register(name, Backbone(kind, name, factory))
    forget(kind, name)


def forget(kind: str, name: str) -> None:
    """Drop what this process loaded or computed for a backbone (after its record changed)."""
    _LOADED.pop((kind, name), None)
    _IDENTITY_CACHE.pop((kind, name), None)


def load_backbone(kind: str, name: str, metric: str) -> Any:
    """The loaded backbone, once per process; any failure names the metric."""
    if (kind, name) in _LOADED:
        return _LOADED[(kind, name)]
    if name not in BACKBONES[kind]:
        raise MetricError(f"metric {metric!r}: unknown {kind} backbone {name!r}")
    record = BACKBONES[kind].get(name)
    try:
        backbone = record.factory()
    except MetricError:
        raise
    except Exception as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MetricError(
            f"metric {metric!r}: its {kind} backbone {name!r} is not available ({detail})"
        ) from err
    _LOADED[(kind, name)] = backbone
    return backbone
