"""Quality of the toy diffusion model, measured by the oracle (computed, never cached).

Text-to-image: for held-out scene captions, sample with plain classifier-free
guidance and ask the oracle whether the background colour, object colours,
shapes and object count came out as the caption says. VAE: PSNR of
reconstructions of held-out renders.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..sine import DiffusionModel
from ..sine.grid_sampler import EditRequest, sample_grid
from .data import HELDOUT_SEED_OFFSET, to_tensor
from .oracle import agreement, read_image
from .scenes import random_scene, render

BARS = {
    "t2i_background": 0.9,
    "t2i_color": 0.85,
    "t2i_shape": 0.7,
    "t2i_count": 0.8,
    "vae_psnr_db": 28.0,
}


def to_uint8(images01: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] -> (B, H, W, 3) uint8."""
    return (images01.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def vae_psnr(model: DiffusionModel, n: int = 200, seed_offset: int = HELDOUT_SEED_OFFSET) -> float:
    """Mean PSNR (dB, images in [0, 1]) of VAE reconstructions of held-out renders."""
    images = np.stack([render(random_scene(seed_offset + i)) for i in range(n)])
    x = to_tensor(images).to(model.device, model.vae.dtype)
    psnrs = []
    for i in range(0, n, 50):
        batch = x[i : i + 50]
        recon = model.vae.decode(model.vae.encode(batch).latent_dist.mean).sample
        mse = (((recon.float() + 1) / 2).clamp(0, 1) - (batch.float() + 1) / 2).pow(2)
        psnrs.append(-10 * torch.log10(mse.mean(dim=(1, 2, 3))))
    return float(torch.cat(psnrs).mean())


@torch.no_grad()
def text_to_image_accuracy(
    model: DiffusionModel,
    n: int = 200,
    steps: int = 50,
    guidance_scale: float = 7.5,
    seed: int = 0,
    seed_offset: int = HELDOUT_SEED_OFFSET + 500_000,
    batch_size: int = 25,
    progress: bool = True,
) -> dict[str, float]:
    """Oracle agreement of samples with their held-out captions, averaged per attribute.
    Sample i uses seed ``seed + i`` whatever the batching (one generator per sample)."""
    totals: dict[str, float] = {}
    size = model.native_resolution
    captions = [random_scene(seed_offset + i).caption() for i in range(n)]
    starts = range(0, n, batch_size)
    for start in tqdm(starts, desc="toy text-to-image", disable=not progress):
        chunk = range(start, min(start + batch_size, n))
        requests = [EditRequest(captions[i], 1.0, 1000, guidance_scale, seed + i) for i in chunk]
        latents = sample_grid(
            model, None, requests, height=size, width=size, steps=steps, batch_size=batch_size
        )
        for i, z in zip(chunk, latents, strict=True):
            image = to_uint8(model.decode(z))[0]
            reading = read_image(image)
            for key, value in agreement(reading, captions[i]).as_dict().items():
                totals[key] = totals.get(key, 0.0) + value
    return {f"t2i_{k}": v / n for k, v in totals.items()}


def evaluate_toy_model(
    model: DiffusionModel, n: int = 200, steps: int = 50, progress: bool = True
) -> dict[str, float]:
    """All toy-model numbers with their bars (see BARS)."""
    results = {"vae_psnr_db": vae_psnr(model, n=min(n, 200))}
    results.update(text_to_image_accuracy(model, n=n, steps=steps, progress=progress))
    results["n_samples"] = n
    results["ddim_steps"] = steps
    results["guidance_scale"] = 7.5
    return results
