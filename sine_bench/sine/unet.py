"""Adding SINE's position encoding to a diffusers ``UNet2DConditionModel``.

The encoding is added to the output of ``conv_in`` (before the first down block, so
the first skip connection carries it too) through a forward hook, so the UNet's own
forward and weights stay exactly diffusers'. It is enabled only on a model that is
fine-tuned with patches; the pretrained model never sees it.

A UNet saved with :func:`save_unet` records its encoding settings in
``sine_position_encoding.json`` next to diffusers' files. :func:`load_unet` refuses to
put a patch fine-tune into a UNet without the encoding, or with another grid, since
that would silently drop or distort it. So does plain diffusers: a patch UNet's weights
are saved as the ``sine-pe`` variant and its config names a class diffusers does not
have, so ``UNet2DConditionModel.from_pretrained(folder)`` fails (no
``diffusion_pytorch_model.safetensors``) instead of loading it without its encoding;
a README in the folder says why. Folders saved before (plain weights file plus the
side file) still load with :func:`load_unet`.

For ``sine-lora`` the encoding is *gated*: attached to the shared base UNet but added
only while the LoRA view (the fine-tuned model) runs, so the pretrained model's calls
never see it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from ..errors import InputError
from .hf_compat import dtype_kwargs
from .position import (
    CropBox,
    PositionEncodingConfig,
    encoding_for_boxes,
    resize_table,
    sinusoidal_table,
)

PE_FILENAME = "sine_position_encoding.json"
PE_VARIANT = "sine-pe"  # weights file: diffusion_pytorch_model.sine-pe.safetensors
PE_CLASS_NAME = "SinePatchUNet2DConditionModel"  # config.json _class_name of a patch UNet
PE_README = """\
This UNet is a SINE patch fine-tune (sine-bench). It adds a fixed 2-D sinusoidal
position encoding after conv_in, which diffusers' UNet2DConditionModel does not have,
so its weights are saved as the "sine-pe" variant and plain
UNet2DConditionModel.from_pretrained(this folder) fails on purpose: loaded that way
the model would silently lose its encoding. Load it with

    from sine_bench.sine.unet import load_unet
    unet = load_unet("<this folder>")

Encoding settings: sine_position_encoding.json.
"""


class PositionEncodingError(InputError):
    """A fine-tune's position encoding does not match the model it is loaded into."""


class PositionEncoding(nn.Module):
    """Holds the fixed table and adds it to conv_in's output (no parameters)."""

    def __init__(self, config: PositionEncodingConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("table", sinusoidal_table(config), persistent=False)
        self.boxes: list[CropBox] | None = None
        self.gated = False  # a LoRA fine-tune's encoding on the shared base UNet
        self.active = True  # False while a gated encoding's fine-tuned model is not running
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
    pe = module.sine_pe_owner  # type: ignore[attr-defined]
    return pe.add_to(output) if pe.active else output


def enable_position_encoding(
    unet: UNet2DConditionModel, grid: int, interpolation: str = "bilinear", *, gated: bool = False
) -> PositionEncodingConfig:
    """Give ``unet`` the fixed encoding of a ``grid x grid`` cell canvas, in place;
    ``gated``: off until :func:`position_encoding_on` (a LoRA fine-tune's base UNet)."""
    if position_encoding_config(unet) is not None:
        raise PositionEncodingError("this UNet already has a position encoding")
    config = PositionEncodingConfig(
        grid=grid, channels=unet.conv_in.out_channels, interpolation=interpolation
    )
    param = next(unet.parameters())
    pe = PositionEncoding(config).to(device=param.device)
    pe.gated, pe.active = gated, not gated
    unet.sine_position_encoding = pe
    # Keep a plain attribute (not a submodule) on conv_in pointing back to the encoder.
    object.__setattr__(unet.conv_in, "sine_pe_owner", pe)
    unet.conv_in.register_forward_hook(_conv_in_hook)
    return config


def remove_position_encoding(unet: nn.Module) -> None:
    """Take the encoding off ``unet`` again (its hook too); nothing if it has none."""
    if getattr(unet, "sine_position_encoding", None) is None:
        return
    hooks = unet.conv_in._forward_hooks  # by identity: a deep copy's handles would not do
    for key in [k for k, hook in hooks.items() if hook is _conv_in_hook]:
        del hooks[key]
    del unet.sine_position_encoding
    object.__delattr__(unet.conv_in, "sine_pe_owner")


@contextlib.contextmanager
def position_encoding_on(unet: nn.Module) -> Iterator[None]:
    """Within the block a gated encoding is added (no-op without an encoding)."""
    pe = getattr(unet, "sine_position_encoding", None)
    if pe is None:
        yield
        return
    previous, pe.active = pe.active, True
    try:
        yield
    finally:
        pe.active = previous


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
    """diffusers' save; a patch UNet's as the ``sine-pe`` variant, with a config marker,
    the encoding settings and a README (see the module docstring)."""
    path = Path(path)
    config = position_encoding_config(unet)
    if config is None:
        unet.save_pretrained(path)
        return
    unet.save_pretrained(path, variant=PE_VARIANT)
    write_position_encoding(config, path)
    marked = json.loads((path / "config.json").read_text())
    marked["_class_name"] = PE_CLASS_NAME  # diffusers ignores private (_) keys when loading
    marked["_sine_position_encoding"] = config.to_dict()
    (path / "config.json").write_text(json.dumps(marked, indent=2, sort_keys=True))
    (path / "README.md").write_text(PE_README)


def write_position_encoding(config: PositionEncodingConfig, path: str | Path) -> None:
    (Path(path) / PE_FILENAME).write_text(json.dumps(config.to_dict(), indent=2))


def _variant(path: str | Path) -> str | None:
    """The weights variant a saved UNet folder uses (None: the plain layout)."""
    marked = Path(path) / f"diffusion_pytorch_model.{PE_VARIANT}.safetensors"
    return PE_VARIANT if marked.is_file() else None


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
    unet = UNet2DConditionModel.from_pretrained(
        path,
        variant=_variant(path),
        use_safetensors=True,  # sine-bench saves safetensors: never unpickle a store file
        **dtype_kwargs("diffusers", torch_dtype),
    )
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
    loaded = UNet2DConditionModel.from_pretrained(
        path, variant=_variant(path), use_safetensors=True
    )
    unet.load_state_dict(loaded.state_dict())
