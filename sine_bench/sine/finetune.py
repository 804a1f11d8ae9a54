"""SINE Stage 1: fine-tune the UNet (and text encoder) on one image; save and load it.

Defaults follow the paper: AdamW lr 1e-6, betas (0.9, 0.999), weight decay 0.01,
constant lr, batch 1, noise-prediction MSE with t uniform over the training
timesteps, no prior preservation, VAE frozen. Optional: the (t/T)^2-weighted L1 on
the predicted x0 latent (official patch configs) and patch-based training with the
fixed position encoding.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import CLIPTextModel

from ..errors import InputError
from .components import DiffusionModel
from .hf_compat import dtype_kwargs
from .lora import ADAPTER, LoraSettings, LoraView, add_lora, attach_lora, detach_lora, save_lora
from .memory import OPTIMIZERS, pretrained_offloaded, trainable_optimizer
from .patches import PatchSettings, crop_canvas, resize_image, sample_crop_box, to_canvas
from .position import PositionEncodingConfig
from .precision import MixedPrecision
from .sampler import FinetunedModel
from .unet import (
    PositionEncodingError,
    check_compatible,
    crop_boxes,
    enable_position_encoding,
    load_unet,
    position_encoding_on,
    save_unet,
    write_position_encoding,
)

FINETUNE_FILENAME = "sine_finetune.json"
LORA_FOLDER = "unet_lora"


class FinetuneDivergedError(InputError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class FinetuneSettings:
    """Everything that changes a fine-tune's weights (besides image, prompt and base model)."""

    steps: int = 800
    learning_rate: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-8
    train_text_encoder: bool = True
    x0_l1_weight: float = 0.0
    gradient_checkpointing: bool = False
    seed: int = 0
    patches: PatchSettings | None = None
    lora: LoraSettings | None = None  # sine-lora: train an adapter, not a UNet copy
    # memory levers (sine/memory.py); at their defaults they are left out of to_dict
    optimizer: str = "adamw"
    step_in_backward: bool = False
    offload_pretrained: bool = False

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"fine-tune steps must be >= 0, got {self.steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be > 0, got {self.learning_rate}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")

    def to_dict(self) -> dict:
        """The settings as stored and keyed: fields added after the first keys (``lora``,
        the memory levers) appear only when not at their default, so the keys of
        fine-tunes that do not use them never moved."""
        data = asdict(self)
        for name, default in _LATER_FIELDS.items():
            if data[name] == default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> FinetuneSettings:
        data = dict(data)
        if data.get("patches") is not None:
            data["patches"] = PatchSettings(**data["patches"])
        if data.get("lora") is not None:
            data["lora"] = LoraSettings.from_dict(data["lora"])
        data["betas"] = tuple(data.get("betas", (0.9, 0.999)))
        return cls(**data)


_LATER_FIELDS = {
    "lora": None,
    "optimizer": "adamw",
    "step_in_backward": False,
    "offload_pretrained": False,
}


@dataclass
class FinetuneResult:
    """The fine-tuned model plus what is needed to reproduce and audit it."""

    model: FinetunedModel
    settings: FinetuneSettings
    losses: list[float] = field(default_factory=list)
    skipped_steps: int = 0  # float16: steps the gradient scaler skipped (overflow)

    @property
    def position_encoding(self) -> PositionEncodingConfig | None:
        pe = getattr(self.model.unet, "sine_position_encoding", None)
        return pe.config if pe is not None else None


class _TrainingImage:
    """Yields (x0 latent, crop box or None) per step, for full-image or patch mode."""

    def __init__(self, model: DiffusionModel, image: torch.Tensor, patches: PatchSettings | None):
        self.model = model
        self.patches = patches
        native = model.native_resolution
        self.size = (native, native)
        if patches is None:
            self.full = model.encode_distribution(resize_image(image, self.size)[None])
        else:
            self.canvas = to_canvas(image, patches.grid, model.vae_factor)

    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, tuple | None]:
        if self.patches is None:
            dist, box = self.full, None
        else:
            box = sample_crop_box(self.patches, generator)
            pixels = crop_canvas(self.canvas, box, self.model.vae_factor, self.size)
            dist = self.model.encode_distribution(pixels[None])
        noise = torch.randn(dist.mean.shape, generator=generator, dtype=torch.float32)
        latent = dist.mean + dist.std * noise.to(dist.mean.device, dist.mean.dtype)
        return latent * self.model.vae.config.scaling_factor, box


def training_target(
    scheduler, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """What the UNet is trained to predict under the scheduler's ``prediction_type``:
    the noise (epsilon), the velocity sqrt(a) eps - sqrt(1 - a) x0 (v_prediction, SD 2.x
    768) or the clean latent itself (sample)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(x0, noise, t)
    if kind == "sample":
        return x0
    raise ValueError(f"unsupported scheduler prediction_type {kind!r}")


def predicted_x0(scheduler, z_t: torch.Tensor, pred: torch.Tensor, t: torch.Tensor):
    """The clean latent a prediction implies (for the x0-L1 term)."""
    alpha = scheduler.alphas_cumprod.to(z_t.device)[t].view(-1, 1, 1, 1)
    kind = scheduler.config.prediction_type
    if kind == "v_prediction":
        return alpha.sqrt() * z_t - (1 - alpha).sqrt() * pred
    if kind == "sample":
        return pred
    return (z_t - (1 - alpha).sqrt() * pred) / alpha.sqrt()


def _x0_l1(model: DiffusionModel, z_t, pred, x0, t) -> torch.Tensor:
    """Per-sample L1 of the predicted x0 latent, weighted by (t/T)^2, batch mean."""
    x0_pred = predicted_x0(model.scheduler, z_t, pred.float(), t)
    weight = (t.float() / model.num_train_timesteps) ** 2
    per_sample = (x0_pred.float() - x0.float()).abs().mean(dim=(1, 2, 3))
    return (weight * per_sample).mean()


def _text_encoder_checkpointing(text_encoder: CLIPTextModel, enable: bool) -> None:
    """transformers 5 renamed gradient_* to activation_checkpointing_*; support both."""
    verb = "enable" if enable else "disable"
    method = getattr(text_encoder, f"activation_checkpointing_{verb}", None)
    method = method or getattr(text_encoder, f"gradient_checkpointing_{verb}")
    method()


def _trainable_copies(model: DiffusionModel, settings: FinetuneSettings, device):
    """(UNet, text encoder) to train, on ``device``. Full fine-tunes copy both in float32
    (the master weights of mixed precision; one float32 copy each: ``.to`` converts in
    place of the deep copy); a LoRA adapter trains on the resident base UNet (no copy; the
    adapter is float32); a frozen text encoder is the base one. ``nn.Module.to`` is
    called directly: diffusers' override warns on any dtype cast (stderr is one line on
    errors: test_faults)."""
    if settings.lora is not None:
        unet = model.unet
    else:
        unet = torch.nn.Module.to(copy.deepcopy(model.unet), device, torch.float32)
    text_encoder = model.text_encoder
    if settings.train_text_encoder:
        text_encoder = torch.nn.Module.to(copy.deepcopy(model.text_encoder), device, torch.float32)
    return unet, text_encoder


def finetune(
    model: DiffusionModel,
    image: torch.Tensor,
    prompt: str,
    settings: FinetuneSettings,
    *,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune on ``image`` ((3, H, W) in [-1, 1]); a full fine-tune trains float32
    copies of the UNet and text encoder, ``sine-lora`` an adapter on the base UNet.

    With a half-precision base (``model.dtype`` bfloat16 / float16) this is standard
    mixed precision: float32 trainable weights and AdamW state, the forward pass under
    autocast, a gradient scaler for float16, the frozen VAE (and frozen text encoder /
    LoRA base) in the low precision (:class:`~sine_bench.sine.precision.MixedPrecision`).
    The pretrained components in ``model`` are left untouched (both are needed at edit
    time), except that a LoRA fine-tune attached to it is detached first and a new LoRA
    fine-tune stays attached (disabled outside its view).
    """
    detach_lora(model.unet)
    torch.manual_seed(settings.seed)  # dropout and other global-RNG users, if any
    gated = settings.lora is not None
    device, offload = model.device, settings.offload_pretrained and not gated
    try:
        with pretrained_offloaded(model, offload, settings.train_text_encoder):
            unet, text_encoder = _trainable_copies(model, settings, device)
            if settings.patches is not None:
                grid, interpolation = settings.patches.grid, settings.patches.interpolation
                enable_position_encoding(unet, grid, interpolation, gated=gated)
            losses, skipped = _train(
                model, unet, text_encoder, image, prompt, settings, progress, device
            )
    except BaseException:
        if gated:  # leave the shared base UNet as it was: plain, frozen, in eval mode
            detach_lora(model.unet)
            model.unet.eval().requires_grad_(False)
        raise
    unet.eval().requires_grad_(False)
    text_encoder.eval().requires_grad_(False)
    if gated:
        model.unet.disable_adapters()
        unet = LoraView(model.unet)
    model_ft = FinetunedModel(unet, text_encoder, prompt)
    return FinetuneResult(model_ft, settings, losses, skipped)


def _train(model, unet, text_encoder, image, prompt, settings, progress, device):
    """The training loop; returns the per-step losses and the steps the float16 gradient
    scaler skipped (non-finite gradients). Gradients are freed right after each step (or,
    with ``step_in_backward``, as each is applied), never held through the next forward."""
    generator = torch.Generator().manual_seed(settings.seed)
    precision = MixedPrecision(model.dtype, device)
    if settings.step_in_backward and precision.scaler.is_enabled():
        raise ValueError(
            "finetune.step_in_backward cannot run with model.dtype float16 (its gradient "
            "scaler must see every gradient before a step): use bfloat16 or float32"
        )
    unet.train().requires_grad_(settings.lora is None)
    text_encoder.train(settings.train_text_encoder)
    text_encoder.requires_grad_(settings.train_text_encoder)
    if settings.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        if settings.train_text_encoder:
            _text_encoder_checkpointing(text_encoder, True)

    params = list(unet.parameters()) if settings.lora is None else add_lora(unet, settings.lora)
    if settings.train_text_encoder:
        params += list(text_encoder.parameters())
    optimizer, stepper = trainable_optimizer(settings, params)
    source = _TrainingImage(model, image.to(device), settings.patches)
    ids = model.tokenize([prompt]).to(device)
    losses: list[float] = []
    bar = tqdm(range(settings.steps), desc="fine-tune", disable=not progress)
    try:
        with position_encoding_on(unet):  # a LoRA patch fine-tune's encoding is gated
            for step in bar:
                x0, box = source.draw(generator)
                x0 = x0.float()  # the VAE runs in the base's dtype; training maths in float32
                noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
                t = torch.randint(0, model.num_train_timesteps, (1,), generator=generator)
                t = t.to(x0.device)
                z_t = model.scheduler.add_noise(x0, noise, t)
                with precision.autocast():
                    with torch.set_grad_enabled(settings.train_text_encoder):
                        text = text_encoder(ids)[0]
                    with crop_boxes(unet, [box] if box is not None else None):
                        pred = unet(z_t, t, text).sample
                target = training_target(model.scheduler, x0, noise, t)
                loss = F.mse_loss(pred.float(), target.float())
                if settings.x0_l1_weight:
                    loss = loss + settings.x0_l1_weight * _x0_l1(model, z_t, pred, x0, t)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FinetuneDivergedError(
                        f"fine-tune loss became {value} at step {step} "
                        f"(lr={settings.learning_rate}{precision.describe()}); "
                        f"{precision.divergence_hint()}"
                    )
                if stepper is not None:
                    loss.backward()  # each parameter steps in its hook
                else:
                    precision.step(loss, optimizer)
                    optimizer.zero_grad(set_to_none=True)
                losses.append(value)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{value:.4f}")
    finally:
        if stepper is not None:
            stepper.remove()
        if settings.gradient_checkpointing:
            unet.disable_gradient_checkpointing()
            if settings.train_text_encoder:
                _text_encoder_checkpointing(text_encoder, False)
    return losses, precision.skipped


def save_finetune(result: FinetuneResult, path: str | Path) -> None:
    """Write unet/ (a patch UNet marked so plain diffusers refuses it) or unet_lora/ (the
    adapter, with the PE settings for patches), text_encoder/ if trained, and
    sine_finetune.json. Trained weights are stored as trained: float32."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    pe = result.position_encoding
    if result.settings.lora is not None:
        unet = result.model.unet
        save_lora(unet.base if isinstance(unet, LoraView) else unet, path / LORA_FOLDER)
        if pe is not None:
            write_position_encoding(pe, path / LORA_FOLDER)
    else:
        save_unet(result.model.unet, path / "unet")
    if result.settings.train_text_encoder:
        result.model.text_encoder.save_pretrained(path / "text_encoder")
    record = {
        "prompt": result.model.prompt,
        "settings": result.settings.to_dict(),
        "position_encoding": pe.to_dict() if pe is not None else None,
        "losses": result.losses,
    }
    if result.skipped_steps:
        record["skipped_steps"] = result.skipped_steps
    (path / FINETUNE_FILENAME).write_text(json.dumps(record, indent=2))


def _expected_encoding(
    saved: PositionEncodingConfig | None, expect_grid: int | None, where: str
) -> PositionEncodingConfig | None:
    """The encoding a caller asking for grid G (None: none) requires of a saved one."""
    if expect_grid is None:
        return None
    if saved is None:
        raise PositionEncodingError(
            f"{where} was saved without a position encoding (not a patch fine-tune), but "
            f"G={int(expect_grid)} was requested"
        )
    return PositionEncodingConfig(int(expect_grid), saved.channels, saved.interpolation)


def load_finetune(
    path: str | Path,
    base: DiffusionModel,
    expect_grid: int | None | str = "saved",
    adapter: str = ADAPTER,
) -> FinetuneResult:
    """Load a saved fine-tune; ``expect_grid`` (G, or None for plain) must match it.

    A full fine-tune's UNet and text encoder load in float32 (as trained; the sampler
    feeds them in their dtype); a LoRA adapter is attached to ``base.unet`` as
    ``adapter`` (another name than the default keeps the adapters attached)."""
    path = Path(path)
    meta_file = path / FINETUNE_FILENAME
    if not meta_file.exists():
        raise FileNotFoundError(f"{path} is not a SINE fine-tune (no {FINETUNE_FILENAME})")
    record = json.loads(meta_file.read_text())
    settings = FinetuneSettings.from_dict(record["settings"])
    saved_pe = record.get("position_encoding")
    saved = PositionEncodingConfig(**saved_pe) if saved_pe else None
    expect: PositionEncodingConfig | None | str = "saved"
    if expect_grid != "saved":
        expect = _expected_encoding(saved, expect_grid, str(path))  # type: ignore[arg-type]
        check_compatible(saved, expect, str(path))
    if settings.lora is not None:
        unet = attach_lora(base.unet, path / LORA_FOLDER, settings.lora, saved, adapter)
    else:
        unet = load_unet(path / "unet", expect=expect, torch_dtype=torch.float32)
        unet = unet.to(base.device)
    if settings.train_text_encoder:
        text_encoder = CLIPTextModel.from_pretrained(
            path / "text_encoder",
            use_safetensors=True,
            **dtype_kwargs("transformers", torch.float32),
        )
        text_encoder = text_encoder.to(base.device)
    else:
        text_encoder = base.text_encoder
    unet.eval().requires_grad_(False)
    text_encoder.eval().requires_grad_(False)
    model = FinetunedModel(unet, text_encoder, record["prompt"])
    losses = list(record.get("losses", []))
    return FinetuneResult(model, settings, losses, int(record.get("skipped_steps", 0)))
