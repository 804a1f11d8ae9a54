"""``sine-lora``: SINE's Stage 1 as a low-rank adapter (peft) instead of a UNet copy.

The stored fine-tune is the adapter alone (megabytes for SD, not a 3.4 GB UNet). At
edit time one base UNet stays resident: the adapter is attached to it, disabled for
the pretrained model's evaluations and enabled only inside the fine-tuned model's
(:class:`LoraView`). One LoRA fine-tune is attached to a base UNet at a time under
the name "sine"; attaching another (or starting a fine-tune) detaches the previous one.
Several images edited in one UNet call (``edit.images_per_call``) attach their
adapters side by side under names of their own (:func:`attach_loras`); a call then
gives each batch row its adapter through peft's per-row ``adapter_names`` argument of
the LoRA layers (:func:`adapters_per_row`), the same low-rank update on fewer rows.

With patches (``sine-lora-patch``) the fine-tune's position encoding is attached to the
base UNet too, gated like the adapter: on only inside the view. The adapter's weights
are float32 whatever the base's dtype (a bfloat16 base keeps its memory saving; the
low-rank update, trained under autocast, keeps full precision).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from .position import PositionEncodingConfig
from .unet import enable_position_encoding, position_encoding_on, remove_position_encoding

ADAPTER = "sine"
ADAPTER_FILENAME = "adapter.safetensors"
# Attention projections (where text enters) and the ResNet convolutions (where a
# scene's layout and colours live: without them a toy scene is not memorised).
DEFAULT_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "conv1", "conv2")


@dataclass(frozen=True)
class LoraSettings:
    """Rank, scale (alpha; None = rank, i.e. scale 1) and the module names adapted."""

    rank: int = 8
    alpha: float | None = None
    targets: tuple[str, ...] = DEFAULT_TARGETS

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")
        if not self.targets:
            raise ValueError("LoRA needs at least one target module name")

    @classmethod
    def from_dict(cls, data: dict) -> LoraSettings:
        return cls(data["rank"], data.get("alpha"), tuple(data["targets"]))


def add_lora(
    unet: UNet2DConditionModel, settings: LoraSettings, name: str = ADAPTER
) -> list[nn.Parameter]:
    """Attach a fresh adapter ``name`` (B = 0: the model is unchanged) and return its
    parameters, the only ones that train."""
    from peft import LoraConfig

    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha if settings.alpha is not None else settings.rank,
        target_modules=list(settings.targets),
        init_lora_weights=True,
    )
    unet.requires_grad_(False)
    unet.add_adapter(config, adapter_name=name)
    params = [p for key, p in unet.named_parameters() if f".{name}." in key]
    for p in params:
        p.data = p.data.float()  # peft creates them in the base's dtype
        p.requires_grad_(True)
    if not params:
        raise ValueError(f"no UNet module matches the LoRA targets {settings.targets}")
    return params


def save_lora(unet: UNet2DConditionModel, folder: str | Path) -> None:
    """The adapter's weights only (safetensors)."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = get_peft_model_state_dict(unet, adapter_name=ADAPTER)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in state.items()}, folder / ADAPTER_FILENAME)


def has_lora(unet: nn.Module, name: str | None = ADAPTER) -> bool:
    """Whether adapter ``name`` (None: any adapter) is attached to ``unet``."""
    config = getattr(unet, "peft_config", None) or {}
    return bool(config) if name is None else name in config


def detach_lora(unet: UNet2DConditionModel) -> None:
    """Remove every adapter and peft's wrapper layers, and a gated position encoding,
    if any: the UNet is the plain base model again (same modules and state-dict keys as
    before attaching)."""
    if has_lora(unet, None):
        unet.unload_lora()
    if getattr(getattr(unet, "sine_position_encoding", None), "gated", False):
        remove_position_encoding(unet)


def attach_position_encoding(unet: UNet2DConditionModel, config: PositionEncodingConfig) -> None:
    """A LoRA patch fine-tune's encoding on the shared base: gated (off outside the view)."""
    enable_position_encoding(unet, config.grid, config.interpolation, gated=True)


class LoraView(nn.Module):
    """The fine-tuned model at edit time: the base UNet with the adapter switched on for
    the duration of a call (so the base's own calls stay the pretrained model)."""

    def __init__(
        self, base: UNet2DConditionModel, adapter: str = ADAPTER, patch: bool | None = None
    ) -> None:
        super().__init__()
        object.__setattr__(self, "base", base)  # not a submodule: no second copy in .to()
        self.adapter = adapter
        # whether the base's gated encoding is this fine-tune's (None: whatever is attached)
        if patch is None:
            patch = getattr(base, "sine_position_encoding", None) is not None
        self.patch = patch

    @property
    def config(self):
        return self.base.config

    @property
    def sine_position_encoding(self):
        """The (gated) encoding of a LoRA patch fine-tune, else None."""
        return getattr(self.base, "sine_position_encoding", None)

    def forward(self, *args, **kwargs):
        if not has_lora(self.base, self.adapter):
            raise RuntimeError("this LoRA fine-tune was detached from its base UNet")
        if self.adapter != ADAPTER:  # one of several side by side: pick it per row
            with adapters_per_row(self.base, [self.adapter] * len(args[0]), self.patch):
                return self.base(*args, **kwargs)
        self.base.enable_adapters()
        try:
            with position_encoding_on(self.base) if self.patch else contextlib.nullcontext():
                return self.base(*args, **kwargs)
        finally:
            self.base.disable_adapters()


@contextlib.contextmanager
def adapters_per_row(
    base: UNet2DConditionModel, names: Sequence[str], patch: bool
) -> Iterator[None]:
    """Within the block, batch row i of ``base``'s calls runs with adapter ``names[i]``
    (peft's ``adapter_names`` argument of every LoRA layer, injected by a pre-hook as
    peft's own models do) and, if ``patch``, the gated position encoding on for all rows
    (so a call mixes fine-tunes of one encoding only)."""
    from peft.tuners.lora import LoraLayer

    def inject(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        return args, kwargs | {"adapter_names": list(names)}

    hooks = [
        m.register_forward_pre_hook(inject, with_kwargs=True)
        for m in base.modules()
        if isinstance(m, LoraLayer)
    ]
    base.enable_adapters()  # peft's layers ignore adapter_names while disabled
    try:
        with position_encoding_on(base) if patch else contextlib.nullcontext():
            yield
    finally:
        base.disable_adapters()
        for hook in hooks:
            hook.remove()


def attach_lora(
    base: UNet2DConditionModel,
    folder: str | Path,
    settings: LoraSettings,
    position_encoding: PositionEncodingConfig | None = None,
    name: str = ADAPTER,
) -> LoraView:
    """Load a saved adapter (and a patch fine-tune's encoding) onto ``base``, replacing
    any attached one; both stay off outside the returned view. Another ``name`` keeps
    the adapters already attached (several fine-tunes side by side, :func:`adapter_name`)
    and shares their encoding, which must then be the same."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    file = Path(folder) / ADAPTER_FILENAME
    if not file.is_file():
        raise FileNotFoundError(f"LoRA fine-tune is missing its adapter: {file}")
    if name == ADAPTER:
        detach_lora(base)
    elif has_lora(base, name):
        raise ValueError(f"a LoRA adapter named {name!r} is already attached")
    with warnings.catch_warnings():  # peft warns that a second adapter is a second one
        warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
        add_lora(base, settings, name)
    device = next(base.parameters()).device
    state = {k: v.to(device, torch.float32) for k, v in load_file(file).items()}
    result = set_peft_model_state_dict(base, state, adapter_name=name)
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ValueError(f"{file} does not fit this UNet (unexpected keys, e.g. {unexpected[0]})")
    base.requires_grad_(False)
    base.disable_adapters()
    if position_encoding is not None:
        attached = getattr(base, "sine_position_encoding", None)
        if attached is None:
            attach_position_encoding(base, position_encoding)
        elif attached.config != position_encoding:
            raise ValueError(
                f"{file}: LoRA patch fine-tunes with different position encodings "
                f"({attached.config.grid} and {position_encoding.grid} cells) cannot share "
                "a base UNet; edit them with images_per_call 1"
            )
    return LoraView(base, name, position_encoding is not None)


def adapter_name(index: int) -> str:
    """The adapter name of the ``index``-th of several fine-tunes side by side."""
    return f"{ADAPTER}-{index}"


__all__ = [
    "LoraSettings",
    "LoraView",
    "adapter_name",
    "adapters_per_row",
    "add_lora",
    "attach_lora",
    "detach_lora",
    "save_lora",
]
