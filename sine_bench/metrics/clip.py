"""CLIP-space metrics: text alignment, image similarity and edit direction.

Backbones return L2-normalised embeddings; each is resized/normalised by the
backbone itself, so these functions pass images in [0, 1] at the scoring size.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import torch

from .backbones import BACKBONES, load_backbone
from .inputs import CellInputs
from .metric_name import MetricName


def _clip(name: MetricName):
    return load_backbone("clip", name.backbones()["clip"], name.text)


def _images(name: MetricName, *images: torch.Tensor) -> torch.Tensor:
    return _clip(name).encode_images(torch.cat(images)).float()


def _texts(name: MetricName, *texts: str) -> torch.Tensor:
    return _clip(name).encode_texts(list(texts)).float()


def clip_t(name: MetricName, x: CellInputs) -> float:
    """100 * cos(edit, edit prompt) (Hessel et al.'s CLIPScore without the clamp)."""
    return 100.0 * float(_images(name, x.edit)[0] @ _texts(name, x.prompt)[0])


def clip_t_src(name: MetricName, x: CellInputs) -> float:
    """100 * cos(source, its description): the alignment ceiling of this backbone."""
    if not x.source_text:
        return math.nan
    return 100.0 * float(_images(name, x.source)[0] @ _texts(name, x.source_text)[0])


def clip_i(name: MetricName, x: CellInputs) -> float:
    """cos(edit, source) in image space."""
    emb = _images(name, x.edit, x.source)
    return float(emb[0] @ emb[1])


def clip_dir(name: MetricName, x: CellInputs) -> float:
    """cos(E(edit) - E(source), T(prompt) - T(source text)) (Gal et al.'s directional)."""
    if not x.source_text:
        return math.nan
    img = _images(name, x.edit, x.source)
    txt = _texts(name, x.prompt, x.source_text)
    d_img, d_txt = img[0] - img[1], txt[0] - txt[1]
    denom = float(d_img.norm() * d_txt.norm())
    return float(d_img @ d_txt) / denom if denom > 0 else math.nan


def mean_pairwise_similarity(name: MetricName, images: list[torch.Tensor]) -> float:
    """Mean cos between the CLIP image embeddings of every pair (NaN for fewer than 2)."""
    if len(images) < 2:
        return math.nan
    emb = _images(name, *images)
    pairs = list(itertools.combinations(range(len(images)), 2))
    return sum(float(emb[i] @ emb[j]) for i, j in pairs) / len(pairs)


def load_open_clip(arch: str = "ViT-B-32", pretrained: str = "openai"):
    """OpenAI CLIP through open_clip, from the local cache only (``sine-bench
    fetch-weights`` puts it there): a missing file is one clear error, never a minute of
    hub retries. OpenAI's weights were trained with QuickGELU, which open_clip's plain
    ``ViT-B-32`` config does not use: it is forced on."""
    import open_clip
    import torch.nn.functional as F

    from ..weights import MissingWeightsError, fetch_command

    name = f"{arch}/{pretrained}"
    (weight,) = BACKBONES["clip"].get(name).weights
    checkpoint = weight.cached_path()
    if checkpoint is None:
        weight = dataclasses.replace(weight, needed_by=f"clip backbone {name}")
        raise MissingWeightsError([weight], fetch_command(metrics=(f"clip_t[{name}]",)))
    model = open_clip.create_model(arch, pretrained=str(checkpoint), force_quick_gelu=True)
    tokenizer = open_clip.get_tokenizer(arch)
    model.eval()
    mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
    std = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)

    class OpenClip:
        @torch.no_grad()
        def encode_images(self, images01: torch.Tensor) -> torch.Tensor:
            x = F.interpolate(images01.float(), size=(224, 224), mode="bicubic", antialias=True)
            return F.normalize(model.encode_image((x.clamp(0, 1) - mean) / std), dim=-1)

        @torch.no_grad()
        def encode_texts(self, texts: list[str]) -> torch.Tensor:
            return F.normalize(model.encode_text(tokenizer(texts)), dim=-1)

    return OpenClip()
