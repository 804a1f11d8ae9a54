"""PIE-Bench's region LPIPS (SqueezeNet) against a re-derivation with the lpips package.

No SqueezeNet ImageNet weights offline: a random trunk with the shipped linear heads
stands in (the masking, scaling and region means are what is tested).
"""

import math

import lpips as lpips_pkg
import numpy as np
import pytest
import torch

from sine_bench.metrics.backbones import BACKBONES, forget, load_backbone, register_backbone
from sine_bench.metrics.inputs import CellInputs
from sine_bench.metrics.lpips_backend import LpipsMetric
from sine_bench.metrics.names import MetricError
from sine_bench.metrics.registry import check_metric_name, column_label, metric_weights

FAKE = "test-random-squeeze"
H, W = 48, 64


@pytest.fixture
def random_squeeze():
    torch.manual_seed(0)
    net = lpips_pkg.LPIPS(net="squeeze", pretrained=True, pnet_rand=True, verbose=False)
    register_backbone("lpips", FAKE, lambda: LpipsMetric(net, f"lpips[{FAKE}]"))
    yield net
    BACKBONES["lpips"].unregister(FAKE)
    forget("lpips", FAKE)


def _cell():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (H, W, 3)) / 255
    b = np.round(np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1) * 255) / 255
    edit = np.zeros((H, W))
    edit[10:30, 16:50] = 1

    def t(x):
        return torch.from_numpy(x).permute(2, 0, 1)[None].float()

    keep = torch.from_numpy(edit == 0)[None, None]
    return CellInputs(t(a), t(b), "p", "s", "p", keep=keep), a, b, edit


def _score(family, cell):
    name = check_metric_name(f"{family}[{FAKE}]")
    return name.info.load_scorer()(name, cell)


@pytest.mark.parametrize("region", ["bg", "edit"])
def test_both_profiles_match_the_rederived_formulas(random_squeeze, region):
    cell, a, b, edit = _cell()
    m = (1 - edit) if region == "bg" else edit

    def t(x):
        return torch.from_numpy(x).permute(2, 0, 1)[None].float()

    with torch.no_grad():
        # PnPInversion: LPIPS(img * mask * 2 - 1, ...) over the whole frame
        pie = float(random_squeeze(t(a * m[..., None]) * 2 - 1, t(b * m[..., None]) * 2 - 1))
        spatial = lpips_pkg.LPIPS(net="squeeze", pnet_rand=True, spatial=True, verbose=False)
        spatial.load_state_dict(random_squeeze.state_dict())
        dmap = spatial(t(a) * 2 - 1, t(b) * 2 - 1)[0, 0].numpy()
    assert _score(f"lpips_{region}_pie", cell) == pytest.approx(pie, rel=1e-5, abs=1e-12)
    corrected = float(dmap[m.astype(bool)].mean())
    assert _score(f"lpips_{region}_corrected", cell) == pytest.approx(corrected, rel=1e-5)
    assert not random_squeeze.spatial  # the shared network is left as it was


def test_empty_region_is_nan_and_the_column_names_the_network(random_squeeze):
    cell, *_ = _cell()
    cell.keep = torch.zeros_like(cell.keep)  # everything is to be edited
    assert math.isnan(_score("lpips_bg_pie", cell))
    label = column_label(check_metric_name(f"lpips_bg_pie[{FAKE}]"))
    assert label == f"lpips_bg_pie[{FAKE}]"


def test_squeeze_weights_are_a_record_that_plan_names():
    (weight,) = metric_weights(["lpips_bg_pie[squeeze]"])
    assert weight.kind == "torchvision" and weight.source.endswith("squeezenet1_1-b8a52dc0.pth")
    if weight.cached_path() is None:
        with pytest.raises(MetricError, match="fetch-weights"):
            load_backbone("lpips", "squeeze", "lpips_bg_pie[squeeze]")
