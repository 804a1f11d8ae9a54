"""PIE-Bench's region PSNR / MSE / SSIM against formulas re-derived here in numpy.

The ``pie`` profile is PnPInversion's evaluator (images zeroed outside the region,
whole-frame means, torchmetrics' SSIM: reflect-padded Gaussian windows cropped back);
``corrected`` means over the region only. Fixed small images and masks, tolerance 1e-5.
"""

import math

import numpy as np
import pytest
import torch

from sine_bench.metrics.families import FAMILIES
from sine_bench.metrics.inputs import CellInputs
from sine_bench.metrics.registry import check_metric_name, min_side

H, W = 24, 30


def _images():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (H, W, 3)).astype(np.float64) / 255
    b = np.clip(a + rng.normal(0, 0.15, a.shape), 0, 1)
    b = np.round(b * 255) / 255
    return a, b


def _edit_mask() -> np.ndarray:
    m = np.zeros((H, W))
    m[6:17, 9:25] = 1  # the region to edit (PIE's mask = 1)
    return m


def _ssim_torchmetrics_style(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM as torchmetrics builds it: reflect-pad by 5, 11x11 Gaussian
    (sigma 1.5) over every padded window, then crop the 5-pixel border; (H-10, W-10, 3)."""
    k = np.arange(11) - 5
    g = np.exp(-(k**2) / (2 * 1.5**2))
    g /= g.sum()
    kernel = np.outer(g, g)

    def blur(t):
        p = np.pad(t, ((5, 5), (5, 5), (0, 0)), mode="reflect")
        out = np.zeros_like(t)
        for i in range(t.shape[0]):
            for j in range(t.shape[1]):
                out[i, j] = np.einsum("ij,ijc->c", kernel, p[i : i + 11, j : j + 11])
        return out

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s[5:-5, 5:-5]


def _reference(metric: str, a, b, region_mask) -> float:
    """PnPInversion: multiply both by the mask, compute over the whole frame."""
    m = region_mask[..., None]
    za, zb = a * m, b * m
    if metric == "ssim":
        return float(_ssim_torchmetrics_style(za, zb).mean())
    mse = float(((za - zb) ** 2).mean())
    return mse if metric == "mse" else 10 * math.log10(1 / mse)


def _corrected(metric: str, a, b, region_mask) -> float:
    inside = region_mask.astype(bool)
    if metric == "ssim":
        return float(_ssim_torchmetrics_style(a, b)[inside[5:-5, 5:-5]].mean())
    mse = float(((a - b) ** 2)[inside].mean())
    return mse if metric == "mse" else 10 * math.log10(1 / mse)


def _cell(a, b, edit_mask) -> CellInputs:
    def t(x):
        return torch.from_numpy(x).permute(2, 0, 1)[None].float()

    keep = None if edit_mask is None else torch.from_numpy(edit_mask == 0)[None, None]
    return CellInputs(t(a), t(b), "p", "s", "p", keep=keep)


def _score(family: str, cell: CellInputs) -> float:
    name = check_metric_name(family)
    return name.info.load_scorer()(name, cell)


@pytest.mark.parametrize("metric", ["psnr", "mse", "ssim"])
@pytest.mark.parametrize("region", ["bg", "edit"])
def test_both_profiles_match_the_rederived_formulas(metric, region):
    a, b = _images()
    edit = _edit_mask()
    region_mask = 1 - edit if region == "bg" else edit
    cell = _cell(a, b, edit)
    pie = _score(f"{metric}_{region}_pie", cell)
    corrected = _score(f"{metric}_{region}_corrected", cell)
    assert pie == pytest.approx(_reference(metric, a, b, region_mask), rel=1e-5, abs=1e-12)
    assert corrected == pytest.approx(_corrected(metric, a, b, region_mask), rel=1e-5, abs=1e-12)


def test_pie_mse_is_the_region_mse_diluted_by_the_zeroed_frame():
    """The documented difference: pie MSE = corrected MSE x (region pixels / frame)."""
    a, b = _images()
    edit = _edit_mask()
    cell = _cell(a, b, edit)
    for region, mask in (("bg", 1 - edit), ("edit", edit)):
        pie, corrected = (_score(f"mse_{region}_{p}", cell) for p in ("pie", "corrected"))
        assert pie == pytest.approx(corrected * mask.mean(), rel=1e-6)
        assert pie < corrected  # zeroed pixels count as perfect in the reference
        psnr_pie = _score(f"psnr_{region}_pie", cell)
        assert psnr_pie > _score(f"psnr_{region}_corrected", cell)


def test_empty_region_and_missing_mask_are_nan():
    a, b = _images()
    everything = np.ones((H, W))
    cell = _cell(a, b, everything)  # the whole frame is to be edited: no background
    for family in ("psnr_bg_pie", "mse_bg_corrected", "ssim_bg_pie", "ssim_bg_corrected"):
        assert math.isnan(_score(family, cell))
    assert not math.isnan(_score("psnr_edit_pie", cell))
    no_mask = _cell(a, b, None)
    assert all(math.isnan(_score(f, no_mask)) for f in ("psnr_edit_pie", "ssim_bg_corrected"))


def test_identical_regions_cap_psnr_and_give_zero_mse():
    a, b = _images()
    edit = _edit_mask()
    b_bg_kept = np.where(edit[..., None] == 1, b, a)  # only the edit region changes
    cell = _cell(a, b_bg_kept, edit)
    assert _score("psnr_bg_pie", cell) == 100.0 and _score("mse_bg_corrected", cell) == 0.0
    assert _score("ssim_bg_corrected", cell) < 1.0  # windows straddle the changed region
    assert _score("ssim_bg_pie", cell) == pytest.approx(1.0, abs=1e-12)


def test_records():
    assert FAMILIES.get("psnr_bg_pie").direction == "higher"
    assert FAMILIES.get("mse_bg_corrected").direction == "lower"
    assert FAMILIES.get("ssim_edit_pie").direction is None  # the edit should change it
    assert min_side(check_metric_name("ssim_bg_pie")) == 11
    with pytest.raises(ValueError, match="takes no backbone"):
        check_metric_name("psnr_bg_pie[x]")
