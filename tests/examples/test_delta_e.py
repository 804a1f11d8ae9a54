"""delta_e / delta_e_masked (examples/sine-bench-examples), the metric plug-in: CIELAB
values of known sRGB colours, zero for an unchanged image, the kept region only."""

from __future__ import annotations

import math

import pytest
import torch

from tests.examples.helpers import require_examples


@pytest.fixture(scope="module")
def delta_e():
    require_examples()
    import sine_bench_examples.delta_e as module

    return module


def solid(rgb, h=8, w=8) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, h, w).clone()


def test_lab_of_known_colours(delta_e):
    # CIELAB (D65) of sRGB white, black and red (published: L 53.24, a 80.09, b 67.20)
    assert delta_e.srgb_to_lab(solid([1, 1, 1]))[0, :, 0, 0].tolist() == pytest.approx(
        [100, 0, 0], abs=0.01
    )
    assert delta_e.srgb_to_lab(solid([0, 0, 0]))[0, :, 0, 0].tolist() == pytest.approx([0, 0, 0])
    red = delta_e.srgb_to_lab(solid([1, 0, 0]))[0, :, 0, 0].tolist()
    assert red == pytest.approx([53.24, 80.09, 67.20], abs=0.02)


def test_scores_on_cell_inputs(delta_e):
    from sine_bench.metrics.inputs import CellInputs
    from sine_bench.metrics.metric_name import MetricName

    source = solid([1, 1, 1])
    edit = source.clone()
    edit[..., :4] = 0  # the left half turns black: Delta E 100 there
    keep = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    keep[..., 4:] = True
    x = CellInputs(source, edit, "p", "s", "p", keep=keep)
    name = MetricName("delta_e", "delta_e", None)
    assert delta_e.delta_e(name, x) == pytest.approx(50.0, abs=0.01)
    assert delta_e.delta_e_masked(name, x) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(delta_e.delta_e_masked(name, CellInputs(source, edit, "p", "s", "p")))
    assert delta_e.DELTA_E.direction == "lower" and delta_e.DELTA_E.role == "fidelity"
