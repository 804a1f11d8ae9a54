"""Score cache keys change when a metric's backbone weights change, not only its name."""

from sine_bench.metrics import registry


def test_identity_tracks_toy_clip_weights(tmp_path, monkeypatch):
    name = registry.check_metric_name("clip_t[toy]")
    before = registry.score_identity(name)
    assert before["backbones"]["clip"].startswith("toy-clip:")
    registry._IDENTITY_CACHE.clear()
    monkeypatch.setitem(registry.IDENTITIES["clip"], "toy", lambda: "toy-clip:retrained")
    after = registry.score_identity(name)
    registry._IDENTITY_CACHE.clear()
    assert after != before


def test_lpips_identity_names_the_backend_that_would_load():
    ident = registry.score_identity(registry.check_metric_name("lpips[alex]"))
    assert ident["backbones"]["lpips"].split(":")[0] in ("lpips[alex]", "st_lpips[alex]")
    assert registry.score_identity(registry.check_metric_name("psnr"))["backbones"] == {}
