"""Reading and writing images with clear errors and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .fileio import make_temp_file, write_atomic


class ImageInputError(ValueError):
    """An input image is missing or unreadable."""


def load_image(path: str | Path) -> torch.Tensor:
    """An RGB image as a float (3, H, W) tensor in [-1, 1]."""
    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    except (UnidentifiedImageError, OSError) as err:
        raise ImageInputError(f"image file is unreadable: {path} ({err})") from err
    return torch.from_numpy(rgb).permute(2, 0, 1) / 127.5 - 1.0


def to_pil(image: torch.Tensor) -> Image.Image:
    """A (3, H, W) or (1, 3, H, W) tensor in [0, 1] as an 8-bit PIL image."""
    if image.dim() == 4:
        image = image[0]
    array = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy())


def save_png_atomic(image: torch.Tensor | Image.Image, path: str | Path) -> None:
    """Write a PNG via a temp file in the same directory, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    fd, tmp = make_temp_file(path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            pil.save(handle, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: str | Path) -> None:
    """Write text via a temp file + rename, so readers never see half a file."""
    write_atomic(path, text)
