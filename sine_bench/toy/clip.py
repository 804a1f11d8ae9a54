"""The toy CLIP: a small open_clip-architecture model trained on toy scenes.

It stands in for OpenAI CLIP when no real weights can be downloaded, so clip_t /
clip_i / directional scores (reported as ``clip_*[toy]``) measure something real in
the toy world. The architecture is registered with open_clip as ``toy-clip`` from
the shipped json config, so it is built by ``open_clip.create_model`` like any other
open_clip model; weights ship as fp16 safetensors and are upcast to fp32 on load.

Text goes through the toy tokenizer (compact CLIP BPE, ``toy.vocab``), truncated and
padded to ``CONTEXT_LENGTH``. Padding uses the end-of-text token, which has the top
id, so open_clip's argmax text pooling picks the *first* end-of-text token.

Images: float RGB in [0, 1], shape (B, 3, H, W), any H x W. They are resized (not
cropped, so no object is cut off; non-square images are squashed, which training
covers) to 64 x 64 with antialiased bicubic interpolation, clamped to [0, 1], and
normalised with ``MEAN`` / ``STD``, the statistics used in training.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import CLIPTokenizer

MODEL_NAME = "toy-clip"
IMAGE_SIZE = 64
CONTEXT_LENGTH = 32
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
WEIGHTS_DIR = Path(__file__).parent / "weights" / "clip"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = f"{MODEL_NAME}.json"  # open_clip names a registered config by its file stem
TOKENIZER_DIR = "tokenizer"

# Vision tower: open_clip's ModifiedResNet (``layers`` as a list selects it), one
# bottleneck block per stage, stem width 16, attention pooling. A ViT of the same cost
# (patch 8, width 128, 4 layers) learned colour, size and background but stayed near
# chance on shape (clip_t AUROC 0.60 after 1,500 steps, flat from step 1,000); the
# convolutional tower binds shape (0.74 after 1,500 steps). See the model card.
MODEL_CONFIG: dict = {
    "embed_dim": 128,
    "vision_cfg": {
        "image_size": IMAGE_SIZE,
        "layers": [1, 1, 1, 1],
        "width": 16,
        "head_width": 64,
    },
    "text_cfg": {
        "context_length": CONTEXT_LENGTH,
        "vocab_size": 642,
        "width": 128,
        "heads": 2,
        "layers": 3,
    },
}


def write_model_config(directory: str | Path, vocab_size: int) -> Path:
    """Write the open_clip config ``toy-clip.json`` (vocabulary sized to the tokenizer)."""
    config = json.loads(json.dumps(MODEL_CONFIG))
    config["text_cfg"]["vocab_size"] = vocab_size
    path = Path(directory) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


def create_toy_clip_model(config_path: str | Path) -> open_clip.CLIP:
    """Register ``config_path`` with open_clip and build an untrained ``toy-clip``."""
    open_clip.add_model_config(Path(config_path))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # open_clip warns "initialized randomly"; weights follow
    try:
        return open_clip.create_model(MODEL_NAME, pretrained=None)
    finally:
        root.setLevel(level)


def preprocess(images01: torch.Tensor) -> torch.Tensor:
    """[0, 1] images (B, 3, H, W) -> the model's normalised 64 x 64 input."""
    if images01.ndim != 4 or images01.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) images, got {tuple(images01.shape)}")
    x = images01.float()
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        x = F.interpolate(
            x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bicubic", align_corners=False, antialias=True
        )
    x = x.clamp(0, 1)
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def tokenize(tokenizer: CLIPTokenizer, texts: list[str]) -> torch.Tensor:
    """Token ids (N, CONTEXT_LENGTH): truncated, end-of-text kept, padded with end-of-text."""
    out = tokenizer(
        list(texts),
        padding="max_length",
        truncation=True,
        max_length=CONTEXT_LENGTH,
        return_tensors="pt",
    )
    return out.input_ids


class ToyClip:
    """A loaded toy CLIP: normalised embeddings and clip_t-style scores."""

    name = "toy"

    def __init__(self, model: open_clip.CLIP, tokenizer: CLIPTokenizer, device: str = "cpu"):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device

    @torch.no_grad()
    def encode_images(self, images01: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings (B, D) for [0, 1] images of any size."""
        return self.model.encode_image(preprocess(images01.to(self.device)), normalize=True)

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm text embeddings (N, D)."""
        ids = tokenize(self.tokenizer, texts).to(self.device)
        return self.model.encode_text(ids, normalize=True)

    def score(self, images01: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Per-pair 100 * cosine (the clip_t convention); one text is broadcast to all images."""
        img = self.encode_images(images01)
        txt = self.encode_texts(texts)
        if txt.shape[0] == 1:
            txt = txt.expand_as(img)
        if txt.shape[0] != img.shape[0]:
            raise ValueError(f"{img.shape[0]} images but {txt.shape[0]} texts")
        return 100.0 * (img * txt).sum(-1)


def load_toy_clip(device: str = "cpu", weights_dir: str | Path | None = None) -> ToyClip:
    """The shipped toy CLIP (or one from ``weights_dir``, e.g. a fresh training run)."""
    directory = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    needed = [directory / CONFIG_FILE, directory / WEIGHTS_FILE, directory / TOKENIZER_DIR]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise FileNotFoundError(
            "toy CLIP weights are missing: "
            + ", ".join(missing)
            + ". Reinstall sine-bench, or train them with "
            "`python -m sine_bench.toy.train_clip --out DIR` and pass weights_dir=DIR."
        )
    model = create_toy_clip_model(directory / CONFIG_FILE)
    state = {k: v.float() for k, v in load_file(directory / WEIGHTS_FILE).items()}
    model.load_state_dict(state, strict=True)
    tokenizer = CLIPTokenizer.from_pretrained(directory / TOKENIZER_DIR)
    return ToyClip(model, tokenizer, device)
