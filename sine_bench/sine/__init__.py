"""SINE (Zhang et al., CVPR 2023) in plain PyTorch on diffusers components."""

from .components import DiffusionModel, ResolutionError, sd_ddim_scheduler
from .finetune import (
    FinetuneDivergedError,
    FinetuneResult,
    FinetuneSettings,
    finetune,
    load_finetune,
    save_finetune,
)
from .guidance import ModelWindow, multi_model_guidance, pretrained_guidance, sine_guidance
from .lora import LoraSettings
from .patches import PatchSettings, sample_crop_box
from .position import PositionEncodingConfig, sinusoidal_table
from .sampler import (
    EvaluationCounter,
    FinetunedModel,
    MultiModelPlan,
    PretrainedPlan,
    SinePlan,
    sample_latents,
    sine_edit,
)
from .unet import PositionEncodingError, enable_position_encoding, load_unet, save_unet

__all__ = [
    "DiffusionModel",
    "EvaluationCounter",
    "FinetuneDivergedError",
    "FinetuneResult",
    "FinetuneSettings",
    "FinetunedModel",
    "ModelWindow",
    "MultiModelPlan",
    "PatchSettings",
    "PositionEncodingConfig",
    "PositionEncodingError",
    "PretrainedPlan",
    "ResolutionError",
    "SinePlan",
    "enable_position_encoding",
    "finetune",
    "LoraSettings",
    "load_finetune",
    "load_unet",
    "multi_model_guidance",
    "pretrained_guidance",
    "sample_crop_box",
    "sample_latents",
    "save_finetune",
    "save_unet",
    "sd_ddim_scheduler",
    "sine_edit",
    "sine_guidance",
    "sinusoidal_table",
]
