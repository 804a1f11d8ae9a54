"""``delta_e`` and ``delta_e_masked``: the mean CIE76 colour difference (Delta E*ab)
between the source and the edit, over the whole frame or the pixels the edit should
keep: a fidelity metric in perceptual colour units (about 2.3 is a just-noticeable
difference), lower is closer to the source.

A metric plug-in is a record (``sine_bench.metrics.families.MetricFamily``: range,
direction, role, the scorer as ``module:function``) and the scorer, which gets the
cell's images at the scoring size (``CellInputs``: (1, 3, H, W) in [0, 1]).
sRGB (D65) to CIELAB by the standard formulas (IEC 61966-2-1, CIE 15). Import-light
(torch only inside the scorers): a protocol naming the metric validates without torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sine_bench.metrics.families import INF, MetricFamily

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from sine_bench.metrics.inputs import CellInputs
    from sine_bench.metrics.metric_name import MetricName

D65_WHITE = (0.95047, 1.0, 1.08883)
SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)


def srgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) sRGB in [0, 1] -> (1, 3, H, W) CIELAB (L in [0, 100])."""
    import torch

    rgb = image.double().clamp(0, 1)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(SRGB_TO_XYZ, dtype=torch.float64)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, linear)
    xyz = xyz / torch.tensor(D65_WHITE, dtype=torch.float64).view(1, 3, 1, 1)
    eps, kappa = 216 / 24389, 24389 / 27
    f = torch.where(xyz > eps, xyz ** (1 / 3), (kappa * xyz + 16) / 116)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def delta_e_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel CIE76 Delta E*ab: (1, 1, H, W)."""
    return (srgb_to_lab(a) - srgb_to_lab(b)).pow(2).sum(1, keepdim=True).sqrt()


def delta_e(name: MetricName, x: CellInputs) -> float:
    return float(delta_e_map(x.source, x.edit).mean())


def delta_e_masked(name: MetricName, x: CellInputs) -> float:
    """Over the pixels the edit should keep; NaN where the dataset gives no mask."""
    if x.keep is None or not x.keep.any():
        return math.nan
    return float(delta_e_map(x.source, x.edit)[x.keep].mean())


DELTA_E = MetricFamily(
    "delta_e", "sine_bench_examples.delta_e:delta_e", 0, INF, "lower", "fidelity"
)
DELTA_E_MASKED = MetricFamily(
    "delta_e_masked", "sine_bench_examples.delta_e:delta_e_masked", 0, INF, "lower", "fidelity"
)
