"""PIE-Bench's region metrics (background / edit region PSNR, MSE, SSIM) in two profiles.

A family is named ``{metric}_{region}_{profile}``: metric psnr / mse / ssim, region
``bg`` (the pixels the edit should keep) or ``edit`` (the item's mask), profile:

- ``pie`` reproduces PnPInversion's evaluator: both 8-bit images are multiplied by the
  region's 0/1 mask and the metric is computed over the WHOLE frame, zeroed pixels
  included (so a small region scores close to a perfect one); SSIM as torchmetrics'
  default (Gaussian window 11, sigma 1.5, data range 1, windows inside the frame);
- ``corrected`` means over the region's own pixels: MSE and PSNR over its pixels,
  SSIM's map computed on the unmasked images and averaged over the windows centred in
  the region.

Both: NaN when the region is empty or the item has no mask (the reference's "nan",
dropped before means); PSNR capped at ``PSNR_CAP`` (identical regions give infinity
in the reference, which would poison a mean). Values are stored unscaled; tables that
sit beside PIE-Bench's scale MSE x10^4 and SSIM x10^2 (docs/metrics.md).
"""

from __future__ import annotations

import math

import torch

from .inputs import CellInputs
from .metric_name import MetricName
from .pixel import PSNR_CAP, WINDOW, _quantise, ssim_map

METRICS = ("psnr", "mse", "ssim")
REGIONS = ("bg", "edit")
PROFILES = ("pie", "corrected")


def region_mask(x: CellInputs, region: str) -> torch.Tensor | None:
    """(1, 1, H, W) float 0/1 mask of the region, None when the item has no mask."""
    if x.keep is None:
        return None
    keep = x.keep.bool()
    return (keep if region == "bg" else ~keep).float()


def _psnr(mse: float) -> float:
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10.0 * math.log10(1.0 / mse))


def pie_value(metric: str, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """The reference's value: both images zeroed outside ``mask``, whole-frame mean."""
    if float(mask.sum()) == 0:
        return math.nan
    za, zb = _quantise(a).double() * mask, _quantise(b).double() * mask
    if metric == "ssim":
        return float(ssim_map(za, zb).mean())
    mse = float(((za - zb) ** 2).mean())
    return mse if metric == "mse" else _psnr(mse)


def corrected_value(metric: str, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """The region's own mean: pixels (MSE, PSNR) or SSIM windows centred in it."""
    inside = mask.bool()
    if not inside.any():
        return math.nan
    if metric == "ssim":
        border = WINDOW // 2
        kept = inside[..., border:-border, border:-border]
        smap = ssim_map(a, b)
        kept = kept.expand_as(smap)
        return float(smap[kept].mean()) if kept.any() else math.nan
    err = (_quantise(a).double() - _quantise(b).double()) ** 2
    mse = float(err[inside.expand_as(err)].mean())
    return mse if metric == "mse" else _psnr(mse)


def parse(family: str) -> tuple[str, str, str]:
    """(metric, region, profile) of a family name such as ``psnr_bg_pie``."""
    metric, region, profile = family.split("_")
    return metric, region, profile


def region_pixel(name: MetricName, x: CellInputs) -> float:
    """The scorer of every ``{psnr,mse,ssim}_{bg,edit}_{pie,corrected}`` family."""
    metric, region, profile = parse(name.family)
    mask = region_mask(x, region)
    if mask is None:
        return math.nan
    value = pie_value if profile == "pie" else corrected_value
    return value(metric, x.source, x.edit, mask)
