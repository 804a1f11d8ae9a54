import sys
from dataclasses import replace

import pytest
import torch

from sine_bench.metrics import lpips_backend
from sine_bench.metrics.lpips_backend import LpipsUnavailableError, load_lpips
from sine_bench.toy.scenes import random_scene, render, scene_with


def _image(scene) -> torch.Tensor:
    return torch.from_numpy(render(scene)).permute(2, 0, 1)[None].float() / 255.0


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def metric():
    return load_lpips()


def test_backend_is_pretrained_and_named_for_what_it_is(metric):
    cached = lpips_backend.backbone_weights_cached("alex")
    expected = "lpips[alex]" if cached else "st_lpips[alex]"
    assert metric.name == expected


def test_identical_is_zero_and_recolour_is_farther_than_jitter(metric):
    scene = random_scene(11, n_objects=2)
    base = _image(scene)
    moved = scene_with(
        scene,
        objects=tuple(type(o)(o.shape, o.color, o.size, o.x + 1 / 64, o.y) for o in scene.objects),
    )
    recolour = scene_with(scene, background="green" if scene.background != "green" else "red")
    same = metric(base, base.clone())
    jitter = metric(base, _image(moved))
    changed = metric(base, _image(recolour))
    assert same.shape == (1,)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    assert 0 < float(jitter) < float(changed)


def test_resize_option_and_shape_check(metric):
    a = torch.rand(2, 3, 40, 56)
    resized = lpips_backend.LpipsMetric(metric.net, metric.name, resize=64)
    assert resized(a, a.flip(0)).shape == (2,)
    with pytest.raises(ValueError):
        metric(a, torch.rand(2, 3, 40, 40))


def test_never_falls_back_to_a_random_backbone(monkeypatch):
    monkeypatch.setattr(lpips_backend, "backbone_weights_cached", lambda net: False)
    monkeypatch.setitem(sys.modules, "stlpips_pytorch", None)  # import now fails
    with pytest.raises(LpipsUnavailableError):
        load_lpips()


def test_vgg_backend_is_pretrained_and_zero_on_identical_images():
    vgg = load_lpips("vgg")
    expected = "lpips[vgg]" if lpips_backend.backbone_weights_cached("vgg") else "st_lpips[vgg]"
    assert vgg.name == expected
    scene = random_scene(11, n_objects=2)
    first = scene.objects[0]
    reshaped = replace(first, shape="square" if first.shape != "square" else "circle")
    base = _image(scene)
    changed = vgg(base, _image(scene_with(scene, objects=(reshaped, *scene.objects[1:]))))
    assert changed.shape == (1,)
    assert float(changed) > 0.0
    assert float(vgg(base, base.clone())) == pytest.approx(0.0, abs=1e-6)


def test_unknown_net_is_a_clear_error():
    with pytest.raises(ValueError, match="alex, vgg"):
        load_lpips("squeeze")
