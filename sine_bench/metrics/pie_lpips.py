"""PIE-Bench's region LPIPS (SqueezeNet), ``lpips_{bg,edit}_{pie,corrected}[squeeze]``.

``pie`` is PnPInversion's: both 8-bit images multiplied by the region's 0/1 mask, then
LPIPS of the whole frames (inputs x2-1, the network's spatial average over every
position, zeroed ones included). ``corrected``: LPIPS's per-pixel map of the unmasked
images averaged over the region's pixels. NaN for an empty region or no mask. Stored
unscaled; PIE-Bench's tables print LPIPS x10^3.
"""

from __future__ import annotations

import math

import torch

from .inputs import CellInputs
from .lpips import backend
from .metric_name import MetricName
from .pie_pixel import parse, region_mask
from .pixel import _quantise


@torch.no_grad()
def region_lpips(name: MetricName, x: CellInputs) -> float:
    """The scorer of every ``lpips_{bg,edit}_{pie,corrected}[NET]`` family."""
    _, region, profile = parse(name.family)
    mask = region_mask(x, region)
    if mask is None or float(mask.sum()) == 0:
        return math.nan
    metric = backend(name)
    a, b = _quantise(x.source), _quantise(x.edit)
    if profile == "pie":
        return float(metric(a * mask, b * mask).reshape(-1)[0])
    net = metric.net
    # the per-pixel map: lpips reads ``spatial`` at call time; restored before returning
    net.spatial = True
    try:
        dist = net(metric._prepare(a), metric._prepare(b))  # (1, 1, H, W)
    finally:
        net.spatial = False
    return float(dist[mask.bool()].mean())
