"""The joint edit score: did the asked change happen, on *this* image's layout?

Alignment alone (clip_t) rewards a regeneration; fidelity alone rewards a copy. The
score puts one cell between the two references its own run holds, so it needs no
labels and no per-backbone constants (docs/metrics.md, "edit_score"):

- the fine-tuned-only sample (v = 0, K = 0: the edit prompt never enters, a near copy of
  the source) and the pretrained-only sample (v = 1: the prompt drawn from scratch), each
  averaged over the run's seeds for the same source, prompt, size and sampler settings;
- alignment ``a``: where the cell's clip_t lies from the fine-tuned-only (0) to the
  pretrained-only (1) clip_t;
- fidelity ``f``: where its structure distance to the source lies from the
  pretrained-only's (0) to the fine-tuned-only's (1). The distance is a self-similarity
  distance (as DINO self-similarity in PIE-Bench; Tumanyan et al. 2022): the mean squared
  difference between the cosine self-similarity matrices of the LPIPS backbone's first
  layer for edit and source. It reads where things are, not what colour they are, so an
  asked recolour costs little and a moved object a lot;
- score = clip(a, 0, 1) + FIDELITY_WEIGHT * clip(f, 0, 1), in [0, 1.5], higher better.

The form, the weight and the reference pair were chosen on a fit run whose scenes no
evaluation uses, by a rule written before that run was analysed
(results/edit-score/selection-rule.md, results/edit-score/fit/), then fixed here before
any held-out run was scored.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict

import torch

from . import clip, lpips
from .inputs import CellInputs
from .metric_name import MetricName

FIDELITY_WEIGHT = 0.5  # fitted (results/edit-score/fit/fit.md: "cal ftm-ptm a + 0.5f ssd_alex0")
ALIGNMENT_FLOOR = 1.0  # clip_t points: a pretrained-only gain below this is no gain
DISTANCE_FLOOR = 1e-6  # a copy and a regeneration this close: fidelity is undefined
STRUCTURE_LAYER = 0  # the LPIPS backbone's first layer (AlexNet relu1: 15 x 15 at 64 px)


def self_similarity(feature: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every pair of spatial positions of (1, C, H, W)."""
    tokens = feature.flatten(2)[0].float()
    tokens = tokens / (tokens.norm(dim=0, keepdim=True) + 1e-8)
    return tokens.T @ tokens


# Readings of one image, kept for the cells that share it: a group's references serve
# every v and K of that group, and the source every cell of its item. Keyed by content.
_READINGS: OrderedDict[tuple, object] = OrderedDict()
_READINGS_KEPT = 4096


def _remember(key: tuple, compute):
    if key in _READINGS:
        _READINGS.move_to_end(key)
        return _READINGS[key]
    value = _READINGS[key] = compute()
    if len(_READINGS) > _READINGS_KEPT:
        _READINGS.popitem(last=False)
    return value


def _content(image: torch.Tensor) -> str:
    return hashlib.sha1(image.detach().cpu().float().contiguous().numpy().tobytes()).hexdigest()


def _self_similarity_of(name: MetricName, image: torch.Tensor) -> torch.Tensor:
    net = lpips.backend(name.part("lpips"))
    key = ("ssm", name.text, getattr(net, "name", ""), _content(image))
    return _remember(key, lambda: self_similarity(net.features(image)[STRUCTURE_LAYER]))


def structure_distance(name: MetricName, source: torch.Tensor, image: torch.Tensor) -> float:
    """Mean squared difference of the two images' self-similarity matrices (0 = the same
    layout), on the LPIPS backbone the metric names."""
    first, second = (_self_similarity_of(name, x) for x in (source, image))
    return float(((first - second) ** 2).mean())


def _clip_t(name: MetricName, x: CellInputs, image: torch.Tensor) -> float:
    view = CellInputs(x.source, image, x.prompt, x.source_text, x.target_caption)
    key = ("clip_t", name.text, x.prompt, _content(image))
    return _remember(key, lambda: clip.clip_t(name.part("clip"), view))


def calibrated(value: float, zero: float, one: float, floor: float) -> float:
    """Where ``value`` lies from ``zero`` (0) to ``one`` (1), clipped to [0, 1]; the span
    is at least ``floor`` (a tiny or inverted span cannot blow the ratio up)."""
    return min(max((value - zero) / max(one - zero, floor), 0.0), 1.0)


def edit_score(name: MetricName, x: CellInputs) -> float:
    """a + FIDELITY_WEIGHT * f against this run's own references (NaN without them)."""
    if not x.anchors_pretrained or not x.anchors_finetuned:
        return math.nan
    c_pt = sum(_clip_t(name, x, r) for r in x.anchors_pretrained) / len(x.anchors_pretrained)
    c_ft = sum(_clip_t(name, x, r) for r in x.anchors_finetuned) / len(x.anchors_finetuned)
    d_pt = sum(structure_distance(name, x.source, r) for r in x.anchors_pretrained)
    d_ft = sum(structure_distance(name, x.source, r) for r in x.anchors_finetuned)
    d_pt, d_ft = d_pt / len(x.anchors_pretrained), d_ft / len(x.anchors_finetuned)
    alignment = calibrated(_clip_t(name, x, x.edit), c_ft, c_pt, ALIGNMENT_FLOOR)
    distance = structure_distance(name, x.source, x.edit)
    fidelity = calibrated(-distance, -d_pt, -d_ft, DISTANCE_FLOOR)
    return alignment + FIDELITY_WEIGHT * fidelity
