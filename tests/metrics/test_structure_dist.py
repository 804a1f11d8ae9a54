"""PIE-Bench's DINO structure distance against a re-derivation on a random-weight ViT.

No DINO weights offline: the formula is checked on a small random timm ViT with patch 8
(the keys' route, resize, normalisation and self-similarity are what is tested), the
real ViT-B/8 architecture is built with random weights, and the pretrained files are
a backbone record that ``plan`` / ``fetch-weights`` name.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision import transforms

from sine_bench.metrics.backbones import BACKBONES, forget, load_backbone, register_backbone
from sine_bench.metrics.dino import DinoKeys, build_dino
from sine_bench.metrics.inputs import CellInputs
from sine_bench.metrics.names import MetricError
from sine_bench.metrics.registry import check_metric_name, metric_weights
from sine_bench.metrics.structure_dist import resized_size

FAKE = "test-random-vit8"


@pytest.fixture
def tiny_dino():
    torch.manual_seed(0)
    model = build_dino("vit_base_patch8_224", embed_dim=48, depth=2, num_heads=4).eval()
    register_backbone("dino", FAKE, lambda: DinoKeys(model))
    yield model
    BACKBONES["dino"].unregister(FAKE)
    forget("dino", FAKE)


def _images(h: int = 40, w: int = 56):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (h, w, 3)) / 255
    b = a.copy()
    b[10:30, 20:40] = rng.integers(0, 256, (20, 20, 3)) / 255  # a changed block
    return [torch.from_numpy(x).permute(2, 0, 1)[None].float() for x in (a, b)]


def _reference(model, src, edit, profile) -> float:
    """PnPInversion's route: Resize(224, max_size=480) + ImageNet Normalize on the
    tensor (0-255 in the pie profile), keys = middle third of the last block's qkv
    reshaped (tokens, 3, heads, head_dim), concatenated over heads, cosine
    self-similarity (norm product clamped at 1e-8), MSE over the matrix."""
    pie = profile == "pie"
    tf = transforms.Compose(
        [
            transforms.Resize(224, max_size=480, antialias=not pie),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    sims, seen = [], []
    hook = model.blocks[-1].norm1.register_forward_hook(lambda m, i, o: seen.append(o))
    for image in (src, edit):
        x = tf(image[0] * (255 if pie else 1))[None]
        x = x[..., : x.shape[-2] // 8 * 8, : x.shape[-1] // 8 * 8]  # what DINO's conv reads
        seen.clear()
        with torch.no_grad():
            model.forward_features(x)
        blk = model.blocks[-1].attn
        qkv = F.linear(seen[0][0], blk.qkv.weight, blk.qkv.bias).detach().double().numpy()
        tokens, heads = qkv.shape[0], blk.num_heads
        k = qkv.reshape(tokens, 3, heads, -1).transpose(1, 2, 0, 3)[1]  # heads, tokens, d
        k = k.transpose(1, 0, 2).reshape(tokens, -1)
        n = np.linalg.norm(k, axis=1, keepdims=True)
        sims.append((k @ k.T) / np.maximum(n @ n.T, 1e-8))
    hook.remove()
    return float(((sims[0] - sims[1]) ** 2).mean())


def _score(profile, src, edit) -> float:
    name = check_metric_name(f"structure_dist_{profile}[{FAKE}]")
    return name.info.load_scorer()(name, CellInputs(src, edit, "p", "s", "p"))


@pytest.mark.parametrize("profile", ["pie", "corrected"])
@pytest.mark.parametrize("shape", [(40, 56), (48, 48), (264, 300)])  # up- and downsized
def test_matches_the_rederived_reference(tiny_dino, profile, shape):
    src, edit = _images(*shape)
    ours = _score(profile, src, edit)
    assert ours == pytest.approx(_reference(tiny_dino, src, edit, profile), rel=1e-5, abs=1e-12)
    assert ours > 0 and _score(profile, src, src) == pytest.approx(0, abs=1e-12)


def test_profiles_differ(tiny_dino):
    """0-255 inputs into the [0, 1] normalisation: the pie profile reads other features."""
    src, edit = _images()
    assert not math.isclose(_score("pie", src, edit), _score("corrected", src, edit))


@pytest.mark.parametrize("shape", [(512, 512), (300, 700), (700, 300), (100, 1000), (225, 223)])
def test_resize_size_is_torchvisions(shape):
    resized = transforms.Resize(224, max_size=480)(torch.zeros(3, *shape))
    assert resized_size(*shape) == tuple(resized.shape[-2:])


def test_the_real_architecture_is_dino_vitb8():
    model = build_dino()
    assert sum(p.numel() for p in model.parameters()) == 85_807_872  # ViT-B, no head
    assert model.patch_embed.patch_size == (8, 8) and model.pos_embed.shape[1] == 785
    assert model.blocks[-1].attn.qkv.out_features == 3 * 768 and len(model.blocks) == 12


def test_weights_are_a_record_that_plan_names():
    import timm

    (weight,) = metric_weights(["structure_dist_pie[dino-vitb8]"])
    assert weight.kind == "timm" and weight.needed_by == "structure_dist_pie[dino-vitb8]"
    assert weight.source == timm.models.get_pretrained_cfg("vit_base_patch8_224.dino").hf_hub_id
    if weight.cached_path() is None:  # nothing downloaded here: one error naming the fetch
        with pytest.raises(MetricError, match="fetch-weights"):
            load_backbone("dino", "dino-vitb8", "structure_dist_pie[dino-vitb8]")
