"""The weights preflight: a protocol's missing weights, found with file checks alone."""

import time

import pytest

from sine_bench.metrics.registry import metric_weights
from sine_bench.runner.weights_check import check_weights
from sine_bench.weights import MissingWeightsError
from tests.helpers import write_protocol

SD = "CompVis/stable-diffusion-v1-4"
REAL_METRICS = ["psnr", "clip_t[ViT-B-32/openai]", "lpips[alex]"]


def test_the_check_itself_takes_milliseconds(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from sine_bench.protocol.loading import load_protocol

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    protocol = load_protocol(write_protocol(tmp_path, model={"name": SD}, metrics=REAL_METRICS))
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError) as err:
        check_weights(protocol, "p.yaml")
    assert time.perf_counter() - start < 2.0
    assert [w.kind for w in err.value.missing] == ["hub-pipeline", "open_clip"]


def test_metric_weights_come_from_the_backbone_records_once_each():
    found = metric_weights(["clip_t[ViT-B-32/openai]", "copy_rate[alex+toy]", "lpips[alex]"])
    assert [(w.kind, w.name, w.needed_by, w.required) for w in found] == [
        ("open_clip", "ViT-B-32/openai", "clip_t[ViT-B-32/openai]", True),
        ("torchvision", "alex", "copy_rate[alex+toy]", False),
    ]
    assert metric_weights(["clip_t[toy]", "psnr", "oracle_faithful"]) == []
