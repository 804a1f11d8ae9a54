"""Pixel fidelity vs the source: PSNR and SSIM, whole frame or over the kept region.

Both images are quantised to 8 bits first (what a PNG stores), data range 1.
SSIM follows Wang et al. (2004): 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
K2 = 0.03, population (not sample) statistics, valid region only (no padding), mean
over channels - the settings of scikit-image's ``gaussian_weights=True`` mode.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .inputs import CellInputs
from .metric_name import MetricName

PSNR_CAP = 100.0  # dB; identical images would give infinity, which breaks means
WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def _quantise(image: torch.Tensor) -> torch.Tensor:
    return (image.float().clamp(0, 1) * 255).round() / 255


def psnr_value(a: torch.Tensor, b: torch.Tensor, keep: torch.Tensor | None = None) -> float:
    """PSNR in dB over all pixels, or only where ``keep`` (1, 1, H, W) is true."""
    err = (_quantise(a) - _quantise(b)) ** 2
    if keep is not None:
        weights = keep.float().expand_as(err)
        if weights.sum() == 0:
            return math.nan
        mse = float((err * weights).sum() / weights.sum())
    else:
        mse = float(err.mean())
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10.0 * math.log10(1.0 / mse))


def _gaussian_window() -> torch.Tensor:
    coords = torch.arange(WINDOW, dtype=torch.float64) - WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * SIGMA**2))
    return g / g.sum()


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM over the valid region: (1, C, H - 10, W - 10), float64."""
    if min(a.shape[-2:]) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW}x{WINDOW}, got {a.shape}")
    x, y = _quantise(a).double(), _quantise(b).double()
    channels = x.shape[1]
    g = _gaussian_window()
    kh = g.view(1, 1, WINDOW, 1).repeat(channels, 1, 1, 1)
    kw = g.view(1, 1, 1, WINDOW).repeat(channels, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kh, groups=channels), kw, groups=channels)

    mx, my = blur(x), blur(y)
    vx, vy = blur(x * x) - mx * mx, blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    c1, c2 = K1**2, K2**2
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim_value(a: torch.Tensor, b: torch.Tensor, keep: torch.Tensor | None = None) -> float:
    """Mean SSIM; with ``keep``, the mean over kept pixels (cropped like the map)."""
    smap = ssim_map(a, b)
    if keep is None:
        return float(smap.mean())
    border = WINDOW // 2
    kept = keep[..., border:-border, border:-border].expand_as(smap)
    return float(smap[kept].mean()) if kept.any() else math.nan


def psnr(name: MetricName, x: CellInputs) -> float:
    return psnr_value(x.source, x.edit)


def ssim(name: MetricName, x: CellInputs) -> float:
    return ssim_value(x.source, x.edit)


def psnr_masked(name: MetricName, x: CellInputs) -> float:
    return psnr_value(x.source, x.edit, x.keep) if x.keep is not None else math.nan


def ssim_masked(name: MetricName, x: CellInputs) -> float:
    return ssim_value(x.source, x.edit, x.keep) if x.keep is not None else math.nan
