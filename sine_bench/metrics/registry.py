"""Metric names, what they need, and which way is better; backbones by name.

A metric name is ``family[backbone]`` (``clip_t[toy]``, ``lpips[alex]``) or a bare
family (``psnr``). This module is import-light (no torch) so protocols validate fast;
scorers and backbones load lazily when a run needs them. A backbone that cannot load
is an error naming the metric: never a silent substitute.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError


class MetricError(InputError):
    """An unknown metric name, or a metric whose backbone cannot be loaded."""


Kind = Literal["clip", "lpips", "lpips+clip", "clip+lpips", None]


@dataclass(frozen=True)
class Family:
    """A metric family: its implementing module, backbone kind, scope and direction."""

    module: str
    backbone: Kind
    scope: Literal["cell", "group"]
    higher_is_better: bool | None  # None: neither (a diagnostic such as an object count)
    # extra images: "reference" (v=1 edit), "memorized" (v=0, K=0), "anchors" (both,
    # for every seed of the run)
    needs: tuple[str, ...] = ()


FAMILIES: dict[str, Family] = {
    "clip_t": Family("clip", "clip", "cell", True),
    "clip_t_src": Family("clip", "clip", "cell", True),
    "clip_i": Family("clip", "clip", "cell", True),
    "clip_dir": Family("clip", "clip", "cell", True),
    "lpips": Family("lpips", "lpips", "cell", False),
    "st_lpips": Family("lpips", "lpips", "cell", False),
    "psnr": Family("pixel", None, "cell", True),
    "ssim": Family("pixel", None, "cell", True),
    "psnr_masked": Family("pixel", None, "cell", True),
    "ssim_masked": Family("pixel", None, "cell", True),
    "copy_rate": Family("overfit", "lpips+clip", "cell", False),
    "editability_gap": Family("overfit", "clip", "cell", False, ("reference",)),
    "memorization": Family("overfit", "lpips", "cell", True, ("memorized",)),
    "prompt_insensitivity": Family("overfit", "clip", "group", False),
    "seed_collapse": Family("overfit", "clip", "group", False),
    "edit_score": Family("edit_score", "clip+lpips", "cell", True, ("anchors",)),
    "oracle_edit_success": Family("oracle", None, "cell", True),
    "oracle_preserved": Family("oracle", None, "cell", True),
    "oracle_count": Family("oracle", None, "cell", None),
    "oracle_offset": Family("oracle", None, "cell", False),
    "oracle_structure": Family("oracle", None, "cell", True),
    "oracle_faithful": Family("oracle", None, "cell", True),
}


def _lazy(module: str, func: str, **kwargs: Any) -> Callable[[], Any]:
    """A factory that imports ``module`` only when the backbone is first needed."""

    def factory() -> Any:
        return getattr(importlib.import_module(module), func)(**kwargs)

    return factory


# kind -> backbone name -> factory. CLIP backbones: .encode_images(images01 (B,3,H,W))
# and .encode_texts(list[str]) -> L2-normalised embeddings. LPIPS backbones: .name
# (e.g. "lpips[alex]" or "st_lpips[alex]") and __call__(a01, b01) -> (B,) distances.
BACKBONES: dict[str, dict[str, Callable[[], Any]]] = {
    "clip": {
        "toy": _lazy("sine_bench.toy.clip", "load_toy_clip"),
        "ViT-B-32/openai": _lazy("sine_bench.metrics.clip", "load_open_clip", arch="ViT-B-32"),
    },
    "lpips": {
        "alex": _lazy("sine_bench.metrics.lpips_backend", "load_lpips", net="alex"),
        "vgg": _lazy("sine_bench.metrics.lpips_backend", "load_lpips", net="vgg"),
    },
}

_NAME = re.compile(r"^(?P<family>[a-z_]+)(?:\[(?P<backbone>[^\]]+)\])?$")


@dataclass(frozen=True)
class MetricName:
    """A parsed metric name: ``family[backbone]``; lpips+clip backbones are 'net+clip'."""

    text: str
    family: str
    backbone: str | None

    @property
    def info(self) -> Family:
        return FAMILIES[self.family]

    def backbones(self) -> dict[str, str]:
        """kind -> backbone name this metric needs."""
        kind = self.info.backbone
        if kind is None:
            return {}
        if kind == "lpips+clip":
            net, clip = self.backbone.split("+", 1)
            return {"lpips": net, "clip": clip}
        if kind == "clip+lpips":
            clip, net = self.backbone.rsplit("+", 1)
            return {"clip": clip, "lpips": net}
        return {kind: self.backbone}

    def part(self, kind: str) -> MetricName:
        """This metric seen as one of its backbones (``clip`` -> a clip_t name, ``lpips``
        -> an lpips name), for the shared clip / lpips helpers of combined metrics."""
        family = "clip_t" if kind == "clip" else "lpips"
        return MetricName(self.text, family, self.backbones()[kind])


# The smallest image side (at the scoring size) a metric computes on: SSIM's 11 x 11
# window; the LPIPS networks' padded convolutions fail below ~21 px, so 32 with margin.
MIN_SIDE_BY_FAMILY = {"ssim": 11, "ssim_masked": 11}
MIN_SIDE_BY_KIND = {"lpips": 32, "lpips+clip": 32}


def min_side(name: MetricName) -> int:
    """Smallest height or width of the scored images that ``name`` works on."""
    by_kind = MIN_SIDE_BY_KIND.get(name.info.backbone or "", 1)
    return max(MIN_SIDE_BY_FAMILY.get(name.family, 1), by_kind)


def check_metric_name(text: str) -> MetricName:
    """Parse and validate a name; the error suggests the closest valid family/backbone."""
    match = _NAME.match(text)
    if not match:
        raise MetricError(f"metric {text!r} is not of the form family or family[backbone]")
    family, backbone = match.group("family"), match.group("backbone")
    if family not in FAMILIES:
        close = difflib.get_close_matches(family, FAMILIES, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise MetricError(f"unknown metric {text!r}{hint}; known families: {', '.join(FAMILIES)}")
    kind = FAMILIES[family].backbone
    if kind is None:
        if backbone is not None:
            raise MetricError(f"metric {text!r}: {family} takes no backbone")
        return MetricName(text, family, None)
    if backbone is None:
        examples = {"clip": "toy", "lpips": "alex", "lpips+clip": "alex+toy"}
        example = examples.get(kind, "toy+alex")  # clip+lpips
        raise MetricError(f"metric {text!r} needs a backbone, e.g. {family}[{example}]")
    name = MetricName(text, family, backbone)
    if kind == "lpips+clip" and "+" not in backbone:
        raise MetricError(f"metric {text!r}: backbone must be 'lpipsnet+clip', e.g. alex+toy")
    if kind == "clip+lpips" and "+" not in backbone:
        raise MetricError(f"metric {text!r}: backbone must be 'clip+lpipsnet', e.g. toy+alex")
    for sub_kind, sub in name.backbones().items():
        if sub not in BACKBONES[sub_kind]:
            known = ", ".join(BACKBONES[sub_kind])
            raise MetricError(
                f"metric {text!r}: unknown {sub_kind} backbone {sub!r}; known: {known}"
            )
    return name


# Bump when a scorer's code changes what it returns: it is part of every score key.
METRICS_VERSION = "1"


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


def _lpips_identity(net: str) -> str:
    """Which LPIPS would load (standard if the backbone's weights are cached), with its version."""
    from .lpips_backend import backbone_weights_cached  # torch: only when a run scores

    if backbone_weights_cached(net):
        return f"lpips[{net}]:{_package_version('lpips')}"
    return f"st_lpips[{net}]:{_package_version('stlpips-pytorch')}"


# kind -> backbone -> what identifies its weights without loading them (cache keys).
IDENTITIES: dict[str, dict[str, Callable[[], str]]] = {
    "clip": {
        "toy": _toy_clip_identity,
        "ViT-B-32/openai": lambda: (
            "open_clip:ViT-B-32/openai:quickgelu:" + _package_version("open_clip_torch")
        ),
    },
    "lpips": {"alex": lambda: _lpips_identity("alex"), "vgg": lambda: _lpips_identity("vgg")},
}
_IDENTITY_CACHE: dict[tuple[str, str], str] = {}


def backbone_identity(kind: str, name: str) -> str:
    """A string that changes when the backbone's weights (or choice) change."""
    if (kind, name) not in _IDENTITY_CACHE:
        factory = IDENTITIES.get(kind, {}).get(name)
        _IDENTITY_CACHE[(kind, name)] = factory() if factory else f"{kind}:{name}"
    return _IDENTITY_CACHE[(kind, name)]


def score_identity(name: MetricName) -> dict[str, str]:
    """Everything about how a metric is computed that belongs in its cache key."""
    ids = {kind: backbone_identity(kind, b) for kind, b in name.backbones().items()}
    return {"metrics_version": METRICS_VERSION, "backbones": ids}


def register_backbone(kind: str, name: str, factory: Callable[[], Any]) -> None:
    """Add a backbone (plugins; tests register clearly named fakes such as 'test-fake')."""
    BACKBONES[kind][name] = factory
    _LOADED.pop((kind, name), None)
    _IDENTITY_CACHE.pop((kind, name), None)


_LOADED: dict[tuple[str, str], Any] = {}


def load_backbone(kind: str, name: str, metric: str) -> Any:
    """The loaded backbone, once per process; any failure names the metric."""
    if (kind, name) in _LOADED:
        return _LOADED[(kind, name)]
    target = BACKBONES[kind].get(name)
    if target is None:
        raise MetricError(f"metric {metric!r}: unknown {kind} backbone {name!r}")
    try:
        backbone = target()
    except MetricError:
        raise
    except Exception as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MetricError(
            f"metric {metric!r}: its {kind} backbone {name!r} is not available ({detail})"
        ) from err
    _LOADED[(kind, name)] = backbone
    return backbone


def scorer(name: MetricName) -> Callable:
    """The scoring function of a family (imports its module)."""
    module = importlib.import_module(f"sine_bench.metrics.{name.info.module}")
    return module.SCORERS[name.family]
