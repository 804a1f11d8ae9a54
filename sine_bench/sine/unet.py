"""Adding SINE's position encoding to a diffusers ``UNet2DConditionModel``.

The encoding is added to the output of ``conv_in`` (before the first down block, so
the first skip connection carries it too) through a forward hook, so the UNet's own
forward and weights stay exactly diffusers'. It is enabled only on a model that is
fine-tuned with patches; the pretrained model never sees it.

A UNet saved with :func:`save_unet` records its encoding settings in
``sine_position_encoding.json`` next to diffusers' files. :func:`load_unet` refuses to
put a patch fine-tune into a UNet without the encoding, or with another grid, since
that would silently drop or distort it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from ..hf_compat import dtype_kwargs
from .position import (
    CropBox,
    PositionEncodingConfig,
    encoding_for_boxes,
    resize_table,
    sinusoidal_table,
)

PE_FILENAME = "sine_position_encoding.json"


class PositionEncodingError(ValueError):
    """A fine-tune's position encoding does not match the model it is loaded into."""


class PositionEncoding(nn.Module):
    """Holds the fixed table and adds it to conv_in's output (no parameters)."""

    def __init__(self, config: PositionEncodingConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("table", sinusoidal_table(config), persistent=False)
        self.boxes: list[CropBox] | None = None
        self._whole_cache: dict[tuple[int, int], torch.Tensor] = {}

    def encoding(self, size: tuple[int, int]) -> torch.Tensor:
        """(B or 1, C, H, W): the current crop boxes' slices, or the whole table."""
        if self.boxes is not None:
            return encoding_for_boxes(self.table, self.boxes, size, self.config.interpolation)
        cached = self._whole_cache.get(size)
        if cached is None or cached.device != self.table.device:
            cached = resize_table(self.table, size, self.config.interpolation)[None]
            self._whole_cache[size] = cached
        return cached

    def add_to(self, features: torch.Tensor) -> torch.Tensor:
        if features.shape[1] != self.config.channels:
            raise PositionEncodingError(
                f"position encoding has {self.config.channels} channels but conv_in "
                f"gives {features.shape[1]}"
            )
        pe = self.encoding(tuple(features.shape[-2:]))
        if self.boxes is not None and pe.shape[0] != features.shape[0]:
            raise ValueError(
                f"{len(self.boxes)} crop boxes given for a batch of {features.shape[0]}"
            )
        return features + pe.to(dtype=features.dtype)


def _conv_in_hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    return module.sine_pe_owner.add_to(output)  # type: ignore[attr-defined]


def enable_position_encoding(
    unet: UNet2DConditionModel, grid: int, interpolation: str = "bilinear"
) -> PositionEncodingConfig:
    """Give ``unet`` the fixed encoding of a ``grid x grid`` cell canvas, in place."""
    if position_encoding_config(unet) is not None:
        raise PositionEncodingError("this UNet already has a position encoding")
    config = PositionEncodingConfig(
        grid=grid, channels=unet.conv_in.out_channels, interpolation=interpolation
    )
    param = next(unet.parameters())
    pe = PositionEncoding(config).to(device=param.device)
    unet.sine_position_encoding = pe
    # Keep a plain attribute (not a submodule) on conv_in pointing back to the encoder.
    object.__setattr__(unet.conv_in, "sine_pe_owner", pe)
    unet.conv_in.register_forward_hook(_conv_in_hook)
    return config


def position_encoding_config(unet: nn.Module) -> PositionEncodingConfig | None:
    pe = getattr(unet, "sine_position_encoding", None)
    return pe.config if isinstance(pe, PositionEncoding) else None


@contextlib.contextmanager
def crop_boxes(unet: nn.Module, boxes: list[CropBox] | None) -> Iterator[None]:
    """Within the block, the UNet's encoding uses one crop box per batch sample."""
    pe = getattr(unet, "sine_position_encoding", None)
    if pe is None:
        if boxes is not None:
            raise PositionEncodingError("crop boxes given to a UNet without position encoding")
        yield
        return
    previous = pe.boxes
    pe.boxes = boxes
    try:
        yield
    finally:
        pe.boxes = previous


def read_position_encoding(path: str | Path) -> PositionEncodingConfig | None:
    """The encoding recorded with a saved UNet, or None for a plain one."""
    file = Path(path) / PE_FILENAME
    if not file.exists():
        return None
    return PositionEncodingConfig(**json.loads(file.read_text()))


def save_unet(unet: UNet2DConditionModel, path: str | Path) -> None:
    """diffusers' save plus the encoding settings (absent file = plain UNet)."""
    path = Path(path)
    unet.save_pretrained(path)
    config = position_encoding_config(unet)
    if config is not None:
        (path / PE_FILENAME).write_text(json.dumps(config.to_dict(), indent=2))


def check_compatible(
    saved: PositionEncodingConfig | None, target: PositionEncodingConfig | None, where: str
) -> None:
    """Raise when weights saved with ``saved`` would go into a model set up with ``target``."""
    if saved == target:
        return
    if saved is not None and target is None:
        raise PositionEncodingError(
            f"{where} is a patch fine-tune with a {saved.grid}x{saved.grid} position encoding; "
            "loading it into a UNet without one would silently drop it"
        )
    if saved is None and target is not None:
        raise PositionEncodingError(
            f"{where} was saved without a position encoding but the target UNet has a "
            f"{target.grid}x{target.grid} one"
        )
    assert saved is not None and target is not None
    if saved.grid != target.grid:
        raise PositionEncodingError(
            f"{where} was fine-tuned with a position grid G={saved.grid}, "
            f"but G={target.grid} was requested; G must match training"
        )
    raise PositionEncodingError(f"{where}: position encoding {saved} differs from {target}")


def load_unet(
    path: str | Path,
    expect: PositionEncodingConfig | None | str = "saved",
    torch_dtype: torch.dtype | None = None,
) -> UNet2DConditionModel:
    """Load a UNet saved by :func:`save_unet`, with its encoding re-attached.

    ``expect="saved"`` takes whatever was saved; a config (or None for "plain") must
    match what was saved, else :class:`PositionEncodingError`.
    """
    saved = read_position_encoding(path)
    if expect != "saved":
        check_compatible(saved, expect, str(path))  # type: ignore[arg-type]
    unet = UNet2DConditionModel.from_pretrained(path, **dtype_kwargs("diffusers", torch_dtype))
    if saved is not None:
        enable_position_encoding(unet, saved.grid, saved.interpolation)
        if saved.channels != unet.conv_in.out_channels:
            raise PositionEncodingError(
                f"{path}: saved encoding has {saved.channels} channels, conv_in has "
                f"{unet.conv_in.out_channels}"
            )
    return unet


def load_unet_weights_into(unet: UNet2DConditionModel, path: str | Path) -> None:
    """Copy saved weights into an existing UNet, refusing a PE mismatch."""
    check_compatible(read_position_encoding(path), position_encoding_config(unet), str(path))
    loaded = UNet2DConditionModel.from_pretrained(path)
    unet.load_state_dict(loaded.state_dict())
