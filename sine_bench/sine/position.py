"""Fixed 2-D sinusoidal position encoding used by SINE's patch-based fine-tuning.

The table covers a square canvas of ``G x G`` latent cells. Half of its channels
encode the column (x), half the row (y); inside each half the sines come first,
then the cosines. Positions run 1..G. The table has no parameters: it is the same
at training time (sliced by a crop box) and at inference (resized as a whole to
any output latent size), which is what lets a patch-trained model compose a
non-square image without repeating content.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Interpolation = Literal["bilinear", "nearest"]
CropBox = tuple[int, int, int, int]  # (y0, x0, y1, x1) in cell units, end-exclusive


@dataclass(frozen=True)
class PositionEncodingConfig:
    """Everything needed to rebuild the table; saved next to a patch fine-tune."""

    grid: int
    channels: int
    interpolation: Interpolation = "bilinear"

    def __post_init__(self) -> None:
        if self.grid < 1:
            raise ValueError(f"position encoding grid must be >= 1, got {self.grid}")
        if self.channels < 4 or self.channels % 4 != 0:
            raise ValueError(
                f"position encoding channels must be a positive multiple of 4, got {self.channels}"
            )
        if self.interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"position encoding interpolation must be 'bilinear' or 'nearest', "
                f"got {self.interpolation!r}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


def axis_frequencies(half_channels: int) -> torch.Tensor:
    """Frequencies exp(-j ln(10000) / (d/2 - 1)), j = 0..d/2-1, for one half of d channels."""
    n = half_channels // 2
    if n == 1:
        return torch.ones(1, dtype=torch.float64)
    j = torch.arange(n, dtype=torch.float64)
    return torch.exp(-j * math.log(10000.0) / (n - 1))


def _axis_encoding(grid: int, half_channels: int) -> torch.Tensor:
    """(half_channels, grid): sines of positions 1..G at each frequency, then cosines."""
    positions = torch.arange(1, grid + 1, dtype=torch.float64)
    angles = axis_frequencies(half_channels)[:, None] * positions[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=0)


def sinusoidal_table(config: PositionEncodingConfig) -> torch.Tensor:
    """The (channels, G, G) table: channel c, row y, column x.

    Channels [0, C/2) encode the column x, channels [C/2, C) the row y.
    """
    half = config.channels // 2
    g = config.grid
    x_part = _axis_encoding(g, half)[:, None, :].expand(half, g, g)
    y_part = _axis_encoding(g, half)[:, :, None].expand(half, g, g)
    return torch.cat([x_part, y_part], dim=0).to(torch.float32).contiguous()


def validate_box(box: CropBox, grid: int) -> None:
    y0, x0, y1, x1 = box
    if not (0 <= y0 < y1 <= grid and 0 <= x0 < x1 <= grid):
        raise ValueError(f"crop box {box} does not fit a {grid}x{grid} position grid")


def slice_table(table: torch.Tensor, box: CropBox) -> torch.Tensor:
    """The part of a (C, G, G) table under a crop box (y0, x0, y1, x1), in cells."""
    validate_box(box, table.shape[-1])
    y0, x0, y1, x1 = box
    return table[:, y0:y1, x0:x1]


def resize_table(
    table: torch.Tensor, size: tuple[int, int], interpolation: Interpolation = "bilinear"
) -> torch.Tensor:
    """Resize a (C, h, w) table (whole or sliced) to a latent size (H, W)."""
    x = table[None]
    if interpolation == "bilinear":
        out = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    elif interpolation == "nearest":
        out = F.interpolate(x, size=size, mode="nearest")
    else:
        raise ValueError(f"unknown interpolation {interpolation!r}")
    return out[0]


def encoding_for_boxes(
    table: torch.Tensor,
    boxes: list[CropBox] | None,
    size: tuple[int, int],
    interpolation: Interpolation = "bilinear",
) -> torch.Tensor:
    """A (B, C, H, W) batch of encodings: one crop per sample, or the whole table.

    ``boxes=None`` means inference: the whole table resized to the latent size.
    """
    if boxes is None:
        return resize_table(table, size, interpolation)[None]
    return torch.stack([resize_table(slice_table(table, b), size, interpolation) for b in boxes])
