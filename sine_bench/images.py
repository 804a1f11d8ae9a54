"""Reading images as photographers produce them, and writing them atomically.

Every reader of a source image or mask goes through :func:`open_image`, so the
fine-tune, ``source-aspect`` sizes, scoring and the run directory all see the same
pixels: EXIF orientation applied, 16-bit greyscale scaled (not clipped) to 8 bits,
palette images expanded, CMYK (and non-sRGB RGB) converted to sRGB with the embedded
ICC profile where there is one, and transparency composited on white. Each such
conversion is returned as a note, which ``plan`` prints and the run's manifest records.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import InputError
from .fileio import make_temp_file, write_atomic

# Pillow's decompression-bomb limit (about 89 megapixels): larger files are refused
# before they are decoded (a 20000 x 20000 photo would need 1.2 GB as 8-bit RGB alone).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
ORIENTATION_TAG = 0x0112
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 or 270 degrees
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_WITH_ALPHA = {"RGBA", "RGBa", "LA", "La", "PA"}


class ImageInputError(InputError):
    """An input image is missing, unreadable, or unusable (too large, too small)."""


@dataclass(frozen=True)
class ImageInfo:
    """A source image's size as it will be used (after orientation) and what loading it
    converted."""

    height: int
    width: int
    notes: tuple[str, ...] = ()


def _open(path: Path) -> Image.Image:
    """Open lazily (header only), refusing files too large to decode."""
    if not path.is_file():
        raise ImageInputError(f"image file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        img = None
    except (UnidentifiedImageError, OSError) as err:
        raise ImageInputError(f"image file is unreadable: {path} ({err})") from None
    if img is None or img.width * img.height > MAX_PIXELS:
        if img is not None:
            img.close()
        raise ImageInputError(
            f"{path}: image too large to decode (more than {MAX_PIXELS / 1e6:.0f} megapixels); "
            "downscale it first"
        )
    return img


def _sixteen_bit_to_8(img: Image.Image) -> Image.Image:
    """16-bit greyscale (PIL modes I;16*, I) scaled to 8 bits: 65535 -> 255."""
    values = np.asarray(img).astype(np.float64)
    if values.min() < 0 or values.max() > 65535:
        raise ValueError("32-bit integer image: values outside 0..65535")
    return Image.fromarray(np.round(values / 257.0).astype(np.uint8), mode="L")


def _to_srgb(img: Image.Image, notes: list[str]) -> Image.Image:
    """CMYK and RGB with a non-sRGB embedded profile, converted to sRGB."""
    icc = img.info.get("icc_profile")
    if img.mode not in ("CMYK", "RGB") or not icc:
        if img.mode == "CMYK":
            notes.append("CMYK without an ICC profile: converted with Pillow's formula")
            return img.convert("RGB")
        return img
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).strip()
        if img.mode == "RGB" and "srgb" in description.lower():
            return img
        srgb = ImageCms.createProfile("sRGB")
        out = ImageCms.profileToProfile(img, profile, srgb, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        notes.append("unreadable ICC profile ignored")
        return img.convert("RGB")
    notes.append(f"{img.mode} converted to sRGB with its ICC profile ({description})")
    return out


def _flatten_alpha(img: Image.Image, notes: list[str]) -> Image.Image:
    """Transparent pixels composited on white (SD has no alpha channel)."""
    rgba = img.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:
        return rgba.convert("RGB")
    notes.append("transparent pixels composited on white")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def normalize(img: Image.Image, mode: str = "RGB") -> tuple[Image.Image, list[str]]:
    """The image as ``mode`` ("RGB" or "L") the way a viewer shows it, plus notes on
    every conversion that changed more than the container."""
    notes: list[str] = []
    orientation = img.getexif().get(ORIENTATION_TAG, 1)
    if orientation not in (1, None):
        img = ImageOps.exif_transpose(img)
        notes.append(f"EXIF orientation {orientation} applied")
    if img.mode == "F":
        raise ValueError("32-bit float images are not supported (export as 8 or 16 bits)")
    if img.mode in _SIXTEEN_BIT:
        img = _sixteen_bit_to_8(img)
        notes.append("16-bit greyscale scaled to 8 bits")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    img = _to_srgb(img, notes)
    if img.mode in _WITH_ALPHA or "transparency" in img.info:
        img = _flatten_alpha(img, notes)
    return img.convert(mode), notes


def open_image(path: str | Path, mode: str = "RGB") -> tuple[Image.Image, list[str]]:
    """Decode ``path`` fully and normalise it (see :func:`normalize`); one-line errors."""
    path = Path(path)
    img = _open(path)
    try:
        with img:
            img.load()
            return normalize(img, mode)
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageInputError(f"image file is unreadable: {path} ({err})") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) after EXIF orientation, from the header alone (no decoding)."""
    with _open(Path(path)) as img:
        w, h = img.size
        if img.getexif().get(ORIENTATION_TAG, 1) in _SWAPS_SIDES:
            w, h = h, w
    return h, w


def inspect_image(path: str | Path, mode: str = "RGB") -> ImageInfo:
    """Decode and normalise once (catches truncated files up front): size and notes."""
    img, notes = open_image(path, mode)
    return ImageInfo(img.height, img.width, tuple(notes))


def frame_count(path: str | Path) -> int:
    """Frames in the file (an animated GIF, a multi-page TIFF); 1 for a still image."""
    with _open(Path(path)) as img:
        return int(getattr(img, "n_frames", 1) or 1)


def frames_note(path: str | Path, what: str = "image") -> list[str]:
    """A note when the file holds several frames: every reader decodes only the first."""
    frames = frame_count(path)
    if frames <= 1:
        return []
    return [
        f"{what} {Path(path).name} has {frames} frames (animated or multi-page): the first is used"
    ]


def mask_notes(path: str | Path, source_hw: tuple[int, int]) -> list[str]:
    """What scoring does to a mask that a user may not expect, each as a note: several
    frames (the first is used), another size than the source (resized to it, stretched
    when the aspect differs), grey levels (thresholded: 128 and up is the edited region)
    and a mask that covers everything (masked metrics then have no pixel: empty)."""
    img, _ = open_image(path, "L")
    name, values = Path(path).name, np.asarray(img)
    notes = frames_note(path, "mask")
    notes += size_notes("mask", path, (img.height, img.width), source_hw)
    grey = float(np.mean((values > 0) & (values < 255)))
    if grey > 0:
        notes.append(
            f"mask {name}: {grey:.1%} of its pixels are grey, thresholded at 128 "
            "(128 and up is the edited region)"
        )
    if bool(np.all(values >= 128)):
        notes.append(
            f"mask {name} covers the whole image: masked metrics have no kept pixel and are "
            "empty (NaN)"
        )
    return notes


def size_notes(
    kind: str, path: str | Path, hw: tuple[int, int], source_hw: tuple[int, int]
) -> list[str]:
    """A note when a mask or ground-truth target has another size than its source: it is
    resized to the size the edit is scored at, stretched when the aspect differs."""
    if tuple(hw) == tuple(source_hw):
        return []
    (h, w), name = source_hw, Path(path).name
    same_aspect = abs(hw[0] * w - hw[1] * h) <= max(h, w)
    how = "scaled" if same_aspect else "stretched (another aspect)"
    return [f"{kind} {name} is {hw[0]}x{hw[1]}, the source {h}x{w}: {how} to it"]


def check_min_side(path: str | Path, size: tuple[int, int], min_side: int, why: str) -> None:
    """Refuse an image whose scoring size is below what a metric can compute on."""
    if min(size) < min_side:
        raise ImageInputError(
            f"{path}: image too small ({size[0]}x{size[1]}): {why} needs at least "
            f"{min_side} px a side (use a larger image or set scoring.size)"
        )


def load_image_with_notes(path: str | Path) -> tuple[torch.Tensor, list[str]]:
    """An RGB image as a float (3, H, W) tensor in [-1, 1] (normalised as above), and the
    notes on what loading converted."""
    img, notes = open_image(path)
    rgb = np.asarray(img, dtype=np.float32)
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1) / 127.5 - 1.0, notes


def load_image(path: str | Path) -> torch.Tensor:
    """An RGB image as a float (3, H, W) tensor in [-1, 1] (normalised as above)."""
    return load_image_with_notes(path)[0]


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
