"""Metric families as records: everything the harness knows about a family, in one place.

The scorer is named, not imported (``module:function``), so validation, the report and
``compare`` read a record without loading torch. Nothing else in the package restates
a family's direction, range, role or minimum side: they read it here.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..plugins import GROUPS
from ..registry import Registry
from .names import MetricError, family_of

# target: closeness to the dataset's ground-truth edit (MagicBrush), not to the source
Role = Literal["alignment", "fidelity", "joint", "overfitting", "oracle", "target"]
Direction = Literal["higher", "lower"] | None  # None: neither (a diagnostic, e.g. a count)
INF = math.inf

# The smallest image side (at the scoring size) a metric computes on: SSIM's 11 x 11
# window; the LPIPS networks' padded convolutions fail below ~21 px, so 32 with margin.
SSIM_SIDE, LPIPS_SIDE = 11, 32


@dataclass(frozen=True)
class MetricFamily:
    """One metric family (see docs/metrics.md for each definition)."""

    name: str
    scorer: str  # "module:function"; cell scorers take (name, CellInputs), group ones
    # (name, list of edit images)
    lower: float  # the range every value lies in (inf: unbounded)
    upper: float
    direction: Direction
    role: Role
    # backbone kinds, in the order a name lists them: "copy_rate[alex+toy]" is lpips+clip
    backbones: tuple[str, ...] = ()
    min_side: int = 1
    # a group metric pools the cells that differ only along this axis ("seed": one cell's
    # seeds; "prompt": one image's prompts) and gives each member the group's value
    pools_over: Literal["seed", "prompt"] | None = None
    # extra images a cell metric reads: "reference" (the v = 1 edit), "memorized"
    # (v = 0, K = 0), "anchors" (both, for every seed of the run), "target" (the
    # dataset's ground-truth edit: validation refuses the metric on items without one)
    needs: tuple[str, ...] = ()

    @property
    def scope(self) -> Literal["cell", "group"]:
        return "group" if self.pools_over else "cell"

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is, 0 for neither."""
        return {"higher": 1, "lower": -1, None: 0}[self.direction]

    def load_scorer(self) -> Callable:
        """The scoring function (imports its module)."""
        module, func = self.scorer.split(":")
        return getattr(importlib.import_module(module), func)


def _family(name: str, module: str, *args, **kwargs) -> MetricFamily:
    return MetricFamily(name, f"sine_bench.metrics.{module}:{name}", *args, **kwargs)


_CLIP, _LPIPS, _PIXEL = ("clip",), ("lpips",), ()
# metric -> (range, direction of closeness to the source, min side)
_PIE_PIXEL = {
    "psnr": (0, 100, "higher", 1),
    "mse": (0, 1, "lower", 1),
    "ssim": (-1, 1, "higher", SSIM_SIDE),
}


def pie_region_records() -> list[MetricFamily]:
    """PIE-Bench's region metrics, ``{metric}_{region}_{profile}`` (metrics/pie_pixel.py).

    Background ones are fidelity (closer to the source is better); edit-region ones are
    diagnostics with no better direction (an edit is meant to change that region).
    """
    out = []
    for metric, (lower, upper, direction, side) in _PIE_PIXEL.items():
        for region in ("bg", "edit"):
            for profile in ("pie", "corrected"):
                out.append(
                    MetricFamily(
                        f"{metric}_{region}_{profile}",
                        "sine_bench.metrics.pie_pixel:region_pixel",
                        lower,
                        upper,
                        direction if region == "bg" else None,
                        "fidelity",
                        _PIXEL,
                        side,
                    )
                )
    return out


_RECORDS = (
    _family("clip_t", "clip", -100, 100, "higher", "alignment", _CLIP),
    _family("clip_t_src", "clip", -100, 100, "higher", "alignment", _CLIP),
    _family("clip_i", "clip", -1, 1, "higher", "fidelity", _CLIP),
    _family("clip_dir", "clip", -1, 1, "higher", "alignment", _CLIP),
    _family("lpips", "lpips", 0, INF, "lower", "fidelity", _LPIPS, LPIPS_SIDE),
    MetricFamily(
        "st_lpips",
        "sine_bench.metrics.lpips:lpips",
        0,
        INF,
        "lower",
        "fidelity",
        _LPIPS,
        LPIPS_SIDE,
    ),
    _family("psnr", "pixel", 0, 100, "higher", "fidelity", _PIXEL),
    _family("ssim", "pixel", -1, 1, "higher", "fidelity", _PIXEL, SSIM_SIDE),
    _family("psnr_masked", "pixel", 0, 100, "higher", "fidelity", _PIXEL),
    _family("ssim_masked", "pixel", -1, 1, "higher", "fidelity", _PIXEL, SSIM_SIDE),
    _family("copy_rate", "overfit", 0, 1, "lower", "overfitting", ("lpips", "clip"), LPIPS_SIDE),
    _family(
        "editability_gap",
        "overfit",
        -200,
        200,
        "lower",
        "overfitting",
        _CLIP,
        needs=("reference",),
    ),
    _family(
        "memorization",
        "overfit",
        0,
        INF,
        "higher",
        "overfitting",
        _LPIPS,
        LPIPS_SIDE,
        needs=("memorized",),
    ),
    _family(
        "prompt_insensitivity",
        "overfit",
        -1,
        1,
        "lower",
        "overfitting",
        _CLIP,
        pools_over="prompt",
    ),
    _family("seed_collapse", "overfit", -1, 1, "lower", "overfitting", _CLIP, pools_over="seed"),
    # reads only the LPIPS network's first layer (the structure distance): no min side
    _family(
        "edit_score", "edit_score", 0, 1.5, "higher", "joint", ("clip", "lpips"), needs=("anchors",)
    ),
    _family("oracle_edit_success", "oracle", 0, 1, "higher", "oracle"),
    _family("oracle_preserved", "oracle", 0, 1, "higher", "oracle"),
    _family("oracle_count", "oracle", 0, INF, None, "oracle"),
    _family("oracle_offset", "oracle", 0, 1, "lower", "oracle"),
    _family("oracle_structure", "oracle", 0, 1, "higher", "oracle"),
    _family("oracle_faithful", "oracle", 0, 1, "higher", "oracle"),
    *pie_region_records(),
    # PIE-Bench's CLIP scores (metrics/pie_clip.py): clamped at 0
    _family("clip_whole_pie", "pie_clip", 0, 100, "higher", "alignment", _CLIP),
    _family("clip_edited_pie", "pie_clip", 0, 100, "higher", "alignment", _CLIP),
    # PIE-Bench's region LPIPS (metrics/pie_lpips.py); edit-region ones are diagnostics
    *(
        MetricFamily(
            f"lpips_{region}_{profile}",
            "sine_bench.metrics.pie_lpips:region_lpips",
            0,
            INF,
            "lower" if region == "bg" else None,
            "fidelity",
            _LPIPS,
            LPIPS_SIDE,
        )
        for region in ("bg", "edit")
        for profile in ("pie", "corrected")
    ),
    # PIE-Bench's DINO self-similarity structure distance, two profiles (docs/metrics.md)
    *(
        MetricFamily(
            f"structure_dist_{profile}",
            "sine_bench.metrics.structure_dist:structure_dist",
            0,
            4,
            "lower",
            "fidelity",
            ("dino",),
        )
        for profile in ("pie", "corrected")
    ),
    # MagicBrush's metrics against the ground-truth target image (metrics/target.py)
    _family("l1_target", "target", 0, 1, "lower", "target", needs=("target",)),
    _family("l2_target", "target", 0, 1, "lower", "target", needs=("target",)),
    _family("clip_i_target", "target", -1, 1, "higher", "target", _CLIP, needs=("target",)),
    _family("dino_target", "target", -1, 1, "higher", "target", ("dino",), needs=("target",)),
)


def _build_family(name: str, target: object) -> MetricFamily:
    """A shipped record as it is; a plug-in's (entry-point group ``sine_bench.metrics``)
    must be a ``MetricFamily`` under its own name."""
    origin = FAMILIES.origin(name)
    if origin is None:
        return target  # type: ignore[return-value]
    if not isinstance(target, MetricFamily) or target.name != name:
        raise MetricError(
            f"metric family {name!r} (plug-in {origin.where()}): must be a "
            f"sine_bench.metrics.families.MetricFamily named {name!r}, got {target!r:.80}"
        )
    return target


FAMILIES: Registry[MetricFamily] = Registry(
    "metric family",
    MetricError,
    {record.name: record for record in _RECORDS},
    build=_build_family,
    group=GROUPS["metric family"],
)


def records() -> list[MetricFamily]:
    """Every registered family's record, in registration order; a plug-in's only when
    it loads (a broken one is an error where a protocol names it, not in every report)."""
    out = []
    for name in FAMILIES.names():
        try:
            out.append(FAMILIES.get(name))
        except MetricError:
            if FAMILIES.origin(name) is None:
                raise
    return out


def family_record(label: str) -> MetricFamily | None:
    """The record of a column label's family (None for a column that is no metric)."""
    family = family_of(label)
    return FAMILIES.get(family) if family in FAMILIES else None


def sign_of(label: str, unknown: int = 1) -> int:
    """+1 / -1 / 0 (see :attr:`MetricFamily.sign`) of a column label; ``unknown`` for a
    column of no registered family."""
    record = family_record(label)
    return record.sign if record else unknown


def families_with(role: Role) -> tuple[str, ...]:
    """Every registered family of a role, in registration order."""
    return tuple(record.name for record in records() if record.role == role)
