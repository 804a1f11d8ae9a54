"""Metric names carry their backbone; a missing backbone is an error naming the metric."""

import pytest
import torch

from sine_bench.metrics.backbones import load_backbone, register_backbone
from sine_bench.metrics.families import records
from sine_bench.metrics.inputs import CellInputs
from sine_bench.metrics.names import MetricError
from sine_bench.metrics.registry import check_metric_name, scorer
from tests.fakes import register_fakes


def test_names_parse_with_backbones():
    assert check_metric_name("clip_t[toy]").backbones() == {"clip": "toy"}
    assert check_metric_name("copy_rate[alex+toy]").backbones() == {"lpips": "alex", "clip": "toy"}
    assert check_metric_name("psnr").backbones() == {}
    assert check_metric_name("memorization[vgg]").backbones() == {"lpips": "vgg"}
    assert check_metric_name("clip_t[ViT-B-32/openai]").backbone == "ViT-B-32/openai"


@pytest.mark.parametrize(
    "name,needle",
    [
        ("clip_tt[toy]", "did you mean 'clip_t'"),
        ("psnr[alex]", "takes no backbone"),
        ("lpips", "needs a backbone"),
        ("clip_t[nonesuch]", "unknown clip backbone 'nonesuch'"),
        ("copy_rate[alex]", "backbone must be 'lpipsnet+clip', e.g. alex+toy"),
        ("edit_score[toy]", "backbone must be 'clip+lpipsnet', e.g. toy+alex"),
        ("edit_score", "needs a backbone, e.g. edit_score[toy+alex]"),
        ("copy_rate", "needs a backbone, e.g. copy_rate[alex+toy]"),
        ("clip_t[toy", "not of the form"),
        ("Clip_t[toy]", "not of the form"),
        ("clip_t[]", "not of the form"),
    ],
)
def test_bad_names(name, needle):
    with pytest.raises(MetricError, match=None) as err:
        check_metric_name(name)
    assert needle in str(err.value)


def test_unavailable_backbone_is_a_clear_error_never_a_substitute():
    def broken():
        raise ModuleNotFoundError("No module named 'sine_bench.toy.missing'")

    register_backbone("clip", "test-missing", broken)
    with pytest.raises(MetricError) as err:
        load_backbone("clip", "test-missing", "clip_t[test-missing]")
    assert "clip_t[test-missing]" in str(err.value) and "not available" in str(err.value)


def test_st_lpips_request_refuses_a_standard_backbone():
    register_fakes()  # the fake calls itself lpips[test-fake]
    name = check_metric_name("st_lpips[test-fake]")
    x = CellInputs(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), "p", "s", "p")
    with pytest.raises(MetricError, match="resolved to lpips"):
        scorer(name)(name, x)


def test_every_family_has_a_scorer():
    for info in records():
        family = info.name
        backbone = f"[{'+'.join('test-fake' for _ in info.backbones)}]" if info.backbones else ""
        register_fakes()
        assert callable(scorer(check_metric_name(family + backbone)))
