"""Score cache keys change when a metric's backbone weights change, not only its name."""

import dataclasses

from sine_bench.metrics import backbones, registry


def test_identity_tracks_toy_clip_weights(tmp_path, monkeypatch):
    name = registry.check_metric_name("clip_t[toy]")
    before = registry.score_identity(name)
    assert before["backbones"]["clip"].startswith("toy-clip:")
    toy = backbones.BACKBONES["clip"].get("toy")
    retrained = dataclasses.replace(toy, identity=lambda: "toy-clip:retrained")
    backbones.forget("clip", "toy")
    with backbones.BACKBONES["clip"].registered("toy", retrained):
        after = registry.score_identity(name)
    backbones.forget("clip", "toy")
    assert after == {"metrics_version": "1", "backbones": {"clip": "toy-clip:retrained"}}
    assert after != before


def test_lpips_identity_names_the_backend_that_would_load():
    ident = registry.score_identity(registry.check_metric_name("lpips[alex]"))
    assert ident["backbones"]["lpips"].split(":")[0] in ("lpips[alex]", "st_lpips[alex]")
    assert registry.score_identity(registry.check_metric_name("psnr"))["backbones"] == {}
