"""PIE-Bench's CLIP scores of the edit: ``clip_whole_pie[B]`` and ``clip_edited_pie[B]``.

As PnPInversion's evaluator (torchmetrics ``CLIPScore`` on OpenAI ViT-L/14):
max(100 cos(E_img, E_txt(edit prompt)), 0) of the 8-bit edit, and of the edit
multiplied by the item's 0/1 edit mask (the background zeroed to black); "nan" for an
empty edit region or an item without a mask. One profile only: the reference's
definition has no averaging fault to correct (``clip_t`` is the unclamped score).
"""

from __future__ import annotations

import math

from .clip import _images, _texts
from .inputs import CellInputs
from .metric_name import MetricName
from .pie_pixel import region_mask
from .pixel import _quantise


def _score(name: MetricName, image, prompt: str) -> float:
    return max(100.0 * float(_images(name, image)[0] @ _texts(name, prompt)[0]), 0.0)


def clip_whole_pie(name: MetricName, x: CellInputs) -> float:
    """The clamped CLIP score of the whole edit."""
    return _score(name, _quantise(x.edit), x.prompt)


def clip_edited_pie(name: MetricName, x: CellInputs) -> float:
    """The clamped CLIP score of the edit with everything outside its mask zeroed."""
    mask = region_mask(x, "edit")
    if mask is None or float(mask.sum()) == 0:
        return math.nan
    return _score(name, _quantise(x.edit) * mask, x.prompt)
