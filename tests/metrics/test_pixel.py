"""PSNR and SSIM: reference values and the masked (kept-region) variants."""

import numpy as np
import torch

from sine_bench.metrics.pixel import PSNR_CAP, psnr_value, ssim_value


def _pair():
    rng = np.random.default_rng(0)
    a = rng.random((40, 56, 3))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    a, b = np.round(a * 255) / 255, np.round(b * 255) / 255
    return (torch.from_numpy(x).permute(2, 0, 1)[None].float() for x in (a, b))


def test_matches_scikit_image_reference():
    # skimage 0.25: structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    # use_sample_covariance=False, data_range=1, channel_axis=2) and
    # peak_signal_noise_ratio(a, b, data_range=1) on the same arrays.
    a, b = _pair()
    assert abs(ssim_value(a, b) - 0.9464350873485978) < 1e-6
    assert abs(psnr_value(a, b) - 20.491698260595726) < 1e-4


def test_identical_images():
    a, _ = _pair()
    assert psnr_value(a, a) == PSNR_CAP
    assert abs(ssim_value(a, a) - 1.0) < 1e-12


def test_masked_variants_average_over_the_kept_region_only():
    a, _ = _pair()
    b = a.clone()
    b[..., :, 28:] = 1.0 - b[..., :, 28:]  # change only the right half
    keep = torch.zeros(1, 1, 40, 56, dtype=torch.bool)
    keep[..., :, :20] = True  # keep the left part (away from the SSIM window's reach)
    assert psnr_value(a, b, keep) == PSNR_CAP
    assert psnr_value(a, b) < 20
    assert abs(ssim_value(a, b, keep) - 1.0) < 1e-9 and ssim_value(a, b) < 0.8
