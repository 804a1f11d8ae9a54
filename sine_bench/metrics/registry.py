"""Metric names: parsed, checked against the family and backbone records, and what a
name's score key, scorer, column label and weights are.

A metric name is ``family[backbone]`` (``clip_t[toy]``, ``lpips[alex]``) or a bare
family (``psnr``). This module is import-light (no torch) so protocols validate fast;
scorers and backbones load lazily when a run needs them. A backbone that cannot load
is an error naming the metric: never a silent substitute.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

from ..weights import Weight
from .backbones import BACKBONES, backbone_identity
from .families import FAMILIES
from .metric_name import MetricName
from .names import MetricError, strict_parts

EXAMPLE = {"clip": "toy", "lpips": "alex", "dino": "dino-vitb8"}  # for error hints
WHAT = {"clip": "clip", "lpips": "lpipsnet", "dino": "dino"}


def min_side(name: MetricName) -> int:
    """Smallest height or width of the scored images that ``name`` works on."""
    return name.info.min_side


def check_metric_name(text: str) -> MetricName:
    """Parse and validate a name; the error suggests the closest valid family/backbone."""
    parts = strict_parts(text)
    if parts is None:
        raise MetricError(f"metric {text!r} is not of the form family or family[backbone]")
    family, backbone = parts
    if family not in FAMILIES:
        known = FAMILIES.names()
        close = difflib.get_close_matches(family, known, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise MetricError(f"unknown metric {text!r}{hint}; known families: {', '.join(known)}")
    _check_plugin_scorer(text, family)
    kinds = FAMILIES.get(family).backbones
    if not kinds:
        if backbone is not None:
            raise MetricError(f"metric {text!r}: {family} takes no backbone")
        return MetricName(text, family, None)
    example = "+".join(EXAMPLE[k] for k in kinds)
    if backbone is None:
        raise MetricError(f"metric {text!r} needs a backbone, e.g. {family}[{example}]")
    if len(kinds) > 1 and "+" not in backbone:
        form = "+".join(WHAT[k] for k in kinds)
        raise MetricError(f"metric {text!r}: backbone must be '{form}', e.g. {example}")
    name = MetricName(text, family, backbone)
    for kind, sub in name.backbones().items():
        if sub not in BACKBONES[kind]:
            known = ", ".join(BACKBONES[kind].names())
            raise MetricError(f"metric {text!r}: unknown {kind} backbone {sub!r}; known: {known}")
    return name


def _check_plugin_scorer(text: str, family: str) -> None:
    """A plug-in family's scorer imported now, so one that cannot load is an error
    naming the plug-in before any compute (shipped scorers load when scoring starts)."""
    origin = FAMILIES.origin(family)
    if origin is None:
        return
    try:
        FAMILIES.get(family).load_scorer()
    except Exception as err:  # noqa: BLE001 - a plug-in's import may raise anything
        why = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        scorer = FAMILIES.get(family).scorer
        raise MetricError(
            f"metric {text!r} (plug-in {origin.where()}): cannot load its scorer {scorer} ({why})"
        ) from None


# Bump when a scorer's code changes what it returns: it is part of every score key.
METRICS_VERSION = "1"


def score_identity(name: MetricName) -> dict[str, str]:
    """Everything about how a metric is computed that belongs in its cache key."""
    ids = {kind: backbone_identity(kind, b) for kind, b in name.backbones().items()}
    identity = {"metrics_version": METRICS_VERSION, "backbones": ids}
    origin = FAMILIES.origin(name.family)
    if origin is not None:  # a plug-in's code: its distribution's version or source hash
        identity["plugin"] = origin.identity(also=[name.info.scorer.partition(":")[0]])
    return identity


def scorer(name: MetricName) -> Callable:
    """The scoring function of a family (imports its module)."""
    return name.info.load_scorer()


def column_label(name: MetricName) -> str:
    """The column a metric's values go under: its name, except that a metric on an LPIPS
    backbone names the network that really ran (``lpips[alex]`` -> ``st_lpips[alex]``)."""
    if "lpips" not in name.backbones():
        return name.text
    from .lpips import label  # loads the backbone (torch): only when a run scores

    return label(name)


def metric_weights(metrics: list[str]) -> list[Weight]:
    """The pretrained weights of the metrics' backbones, each once, named by the first
    metric that needs it (shipped and test backbones need none)."""
    found: dict[tuple[str, str], Weight] = {}
    for text in metrics:
        for kind, backbone in check_metric_name(text).backbones().items():
            for weight in BACKBONES[kind].get(backbone).weights:
                found.setdefault(
                    (weight.kind, weight.name), dataclasses.replace(weight, needed_by=text)
                )
    return list(found.values())
