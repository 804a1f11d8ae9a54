"""Training samples for SINE fine-tuning: random cell-aligned crops, or the whole image.

Patch mode squashes the source onto a square canvas of ``G x G`` latent cells
(``cell_px`` pixels each, the VAE's downsampling factor), draws a crop whose height
and width in cells are independent draws from about ``min_frac`` to ``max_frac`` of
G, places it uniformly where it fits, and resizes the pixel crop to the model's
native training resolution (its aspect ratio is distorted on purpose). The crop box
is kept in cell units for the position encoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .position import CropBox


def default_patch_grid(native_resolution: int, vae_factor: int) -> int:
    """G when a protocol leaves it open: twice the native latent side, so a patch at the
    native size covers at most half the canvas side."""
    return 2 * (native_resolution // vae_factor)


@dataclass(frozen=True)
class PatchSettings:
    """How patches are drawn; ``grid`` is G, the canvas side in latent cells."""

    grid: int
    min_frac: float = 0.1
    max_frac: float = 1.0
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.grid < 1:
            raise ValueError(f"patch grid must be >= 1, got {self.grid}")
        if not 0.0 < self.min_frac <= self.max_frac <= 1.0:
            raise ValueError(
                f"patch fractions must satisfy 0 < min_frac <= max_frac <= 1, "
                f"got {self.min_frac}, {self.max_frac}"
            )


def sample_crop_box(settings: PatchSettings, generator: torch.Generator) -> CropBox:
    """A crop (y0, x0, y1, x1) in cells; sides ~ U[min_frac, max_frac) of G, independent."""
    g = settings.grid
    u = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
    span = settings.max_frac - settings.min_frac

    def side(r: float) -> int:
        return min(g, max(1, math.floor((settings.min_frac + span * r) * g)))

    h, w = side(u[0]), side(u[1])
    y0 = math.floor(u[2] * (g - h + 1))
    x0 = math.floor(u[3] * (g - w + 1))
    return (y0, x0, y0 + h, x0 + w)


def to_canvas(image: torch.Tensor, grid: int, cell_px: int) -> torch.Tensor:
    """Squash a (3, H, W) image to the square (3, G*cell_px, G*cell_px) canvas (bicubic,
    antialiased where it shrinks)."""
    side = grid * cell_px
    return resize_image(image, (side, side))


def crop_canvas(
    canvas: torch.Tensor, box: CropBox, cell_px: int, out_size: tuple[int, int]
) -> torch.Tensor:
    """The pixels under a cell-aligned box, resized (bicubic, antialiased where it shrinks)
    to the training size."""
    y0, x0, y1, x1 = box
    crop = canvas[:, y0 * cell_px : y1 * cell_px, x0 * cell_px : x1 * cell_px]
    return resize_image(crop, out_size)


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of a (3, H, W) image in [-1, 1], clamped back into range.

    Antialiased whenever a side shrinks (a photo's fine texture would otherwise alias
    into moire in the training data). A pure upscale keeps plain bicubic: there torch's
    antialiased path filters nothing and only swaps the cubic coefficient (-0.75 for
    PIL's -0.5), which would change upscaled pixels for no gain.
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    shrinks = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    out = F.interpolate(
        image[None], size=size, mode="bicubic", align_corners=False, antialias=shrinks
    )[0]
    return out.clamp(-1.0, 1.0)
