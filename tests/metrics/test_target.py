"""MagicBrush's target metrics (L1, L2, CLIP-I, DINO) against the ground-truth edit,
each re-derived here the way MagicBrush's evaluator computes it (torch losses on
``ToTensor`` images; torchvision's PIL transforms; scipy's cosine), on fixed small
images and random-weight backbones (no pretrained weights offline)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial import distance
from torchvision import transforms

from sine_bench.metrics.backbones import BACKBONES, forget, load_backbone, register_backbone
from sine_bench.metrics.dino import DinoKeys, build_dino
from sine_bench.metrics.families import FAMILIES
from sine_bench.metrics.inputs import CellInputs
from sine_bench.metrics.names import MetricError
from sine_bench.metrics.registry import check_metric_name, metric_weights
from tests.fakes import FakeClip

FAKE_DINO, FAKE_CLIP = "test-random-vits16", "test-fake-clip-target"


def _pil(seed: int, size=(56, 40)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _tensor(image: Image.Image) -> torch.Tensor:
    return transforms.ToTensor()(image)[None]


def _score(text: str, edit: Image.Image, target: Image.Image | None) -> float:
    name = check_metric_name(text)
    x = CellInputs(_tensor(edit), _tensor(edit), "p", "s", "p")
    x.target = None if target is None else _tensor(target)
    return name.info.load_scorer()(name, x)


@pytest.mark.parametrize(("family", "loss"), [("l1_target", "l1"), ("l2_target", "l2")])
def test_distances_match_magicbrushs_torch_losses(family, loss):
    edit, target = _pil(0), _pil(1)
    criterion = torch.nn.L1Loss() if loss == "l1" else torch.nn.MSELoss()
    reference = criterion(_tensor(edit), _tensor(target)).item()
    assert _score(family, edit, target) == pytest.approx(reference, rel=1e-5)
    assert _score(family, edit, edit) == 0 and math.isnan(_score(family, edit, None))


@pytest.fixture
def fake_clip():
    register_backbone("clip", FAKE_CLIP, FakeClip)
    yield FakeClip()
    BACKBONES["clip"].unregister(FAKE_CLIP)
    forget("clip", FAKE_CLIP)


def test_clip_i_is_the_cosine_of_centre_squares(fake_clip):
    """CLIP's preprocess (Resize(224) + CenterCrop(224)) sees the centre square: the
    crop is taken before the backbone's own square resize."""
    edit, target = _pil(2), _pil(3)
    crop = transforms.CenterCrop(40)
    a, b = (fake_clip.encode_images(_tensor(crop(i)))[0].numpy() for i in (edit, target))
    reference = 1 - distance.cosine(a, b)
    ours = _score(f"clip_i_target[{FAKE_CLIP}]", edit, target)
    assert ours == pytest.approx(reference, rel=1e-5)
    whole = fake_clip.encode_images(torch.cat([_tensor(edit), _tensor(target)])).numpy()
    assert not math.isclose(ours, 1 - distance.cosine(*whole), rel_tol=1e-3)  # the crop counts


@pytest.fixture
def tiny_dino():
    torch.manual_seed(0)
    model = build_dino("vit_small_patch16_224", embed_dim=48, depth=2, num_heads=4).eval()
    register_backbone("dino", FAKE_DINO, lambda: DinoKeys(model))
    yield model
    BACKBONES["dino"].unregister(FAKE_DINO)
    forget("dino", FAKE_DINO)


@pytest.mark.parametrize("size", [(56, 40), (300, 300), (260, 512)])  # up- and downsized
def test_dino_matches_magicbrushs_transform_and_cls_cosine(tiny_dino, size):
    edit, target = _pil(4, size), _pil(5, size)
    transform = transforms.Compose(
        [
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    with torch.no_grad():  # timm's ViT without a head returns DINO's output: normed CLS
        a, b = (tiny_dino(transform(i)[None])[0].double().numpy() for i in (edit, target))
    ours = _score(f"dino_target[{FAKE_DINO}]", edit, target)
    assert ours == pytest.approx(1 - distance.cosine(a, b), rel=1e-5)
    assert _score(f"dino_target[{FAKE_DINO}]", edit, edit) == pytest.approx(1, abs=1e-9)


def test_records_say_what_the_metrics_need():
    for family in ("l1_target", "l2_target", "clip_i_target", "dino_target"):
        record = FAMILIES.get(family)
        assert record.needs == ("target",) and record.role == "target"
    assert FAMILIES.get("l1_target").direction == "lower"
    assert FAMILIES.get("dino_target").direction == "higher"


def test_the_real_architecture_is_dino_vits16_and_its_weights_a_record():
    import timm

    model = build_dino("vit_small_patch16_224")
    assert sum(p.numel() for p in model.parameters()) == 21_665_664  # ViT-S/16, no head
    assert model.patch_embed.patch_size == (16, 16)
    (weight,) = metric_weights(["dino_target[dino-vits16]"])
    assert weight.kind == "timm" and weight.needed_by == "dino_target[dino-vits16]"
    assert weight.source == timm.models.get_pretrained_cfg("vit_small_patch16_224.dino").hf_hub_id
    if weight.cached_path() is None:  # nothing downloaded here: one error naming the fetch
        with pytest.raises(MetricError, match=r"fetch-weights --metric 'dino_target"):
            load_backbone("dino", "dino-vits16", "dino_target[dino-vits16]")
