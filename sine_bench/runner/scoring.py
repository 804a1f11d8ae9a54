"""The score stage: every (cell, metric) and (group, metric) job, keyed and locked.

Scoring is the stage with the most inputs to gather (source, edit, mask, references);
its keys are functions of the plan alone (``score_context``, ``score_keys``), so the
plan-time tools (``plan``'s summary, an interrupt's tally, tests/runner/test_key_pins.py)
compute them without a store or a model.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from ..errors import JobFailure
from ..fileio import file_sha256
from ..images import image_size, open_image
from ..metrics import backbones, registry
from ..metrics.inputs import CellInputs
from ..protocol.fields import hxw
from .context import RunContext, StageCall, StageStats
from .keys import digest, score_key
from .plan import CellPlan, RunPlan

RESAMPLE = {
    "bicubic": Image.BICUBIC,
    "bilinear": Image.BILINEAR,
    "lanczos": Image.LANCZOS,
    "nearest": Image.NEAREST,
}


@dataclass
class CellScores:
    """One cell's metric values and what scoring them did: returned rather than recorded
    on the run's context, so an executor may score cells in other processes."""

    values: dict[str, float] = field(default_factory=dict)
    computed: int = 0
    cached: int = 0
    backbones: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> resolved


def score_context(plan: RunPlan, cell: CellPlan) -> dict:
    """What every cell-scope score key of ``cell`` covers besides its edit and metric."""
    item = plan.items[cell.cell.item]
    mask_path = item.mask_for(cell.cell.prompt)
    mask = file_sha256(mask_path) if mask_path else None
    context = {
        "scoring": plan.protocol.scoring.model_dump(),
        "source": plan.image_sha[cell.cell.item],
        "mask": mask,
        "source_text": item.spec.source,
        "target": item.spec.expected.get(cell.cell.prompt, cell.cell.prompt),
        "reference": cell.reference,
        "memorized": cell.memorized,
    }
    notes = plan.image_notes.get(cell.cell.item)
    if notes:  # the loader converted the source (EXIF, 16-bit, ICC, alpha): other pixels
        context["source_decoded"] = notes
    return context


def score_keys(plan: RunPlan, cell: CellPlan, context: dict | None = None) -> dict[str, str]:
    """Each cell-scope metric's score key (its text -> key) for one cell."""
    context = context or score_context(plan, cell)
    keys = {}
    target = None
    for metric in (m for m in plan.metrics if m.info.scope == "cell"):
        own = context | registry.score_identity(metric)
        if "anchors" in metric.info.needs:  # only its key: other metrics stay cached
            own["anchors"] = cell.anchors
        if "target" in metric.info.needs:  # likewise: only the metrics that read it
            target = target or _target_sha(plan, cell)
            own["target_image"] = target
        keys[metric.text] = score_key(cell.edit, metric.text, own)
    return keys


def _target_sha(plan: RunPlan, cell: CellPlan) -> str | None:
    path = plan.items[cell.cell.item].target_for(cell.cell.prompt)
    return file_sha256(path) if path else None


class MetricFailed(JobFailure):
    """A plug-in metric's scorer raised: its cell's job failed, nothing of it is stored."""


def _scored(metric, inputs) -> float:
    """The metric's value on ``inputs``; a plug-in scorer that raises fails the job with
    one line naming it (a shipped scorer's exception is a bug: it propagates)."""
    origin = registry.FAMILIES.origin(metric.family)
    if origin is None:
        return registry.scorer(metric)(metric, inputs)
    head = f"metric {metric.text!r} (plug-in {origin.where()})"
    try:
        value = registry.scorer(metric)(metric, inputs)
    except Exception as err:  # noqa: BLE001 - a plug-in's code may raise anything
        why = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        raise MetricFailed(f"{head} raised: {why}") from err
    return _checked_value(head, metric.info, value)


def _checked_value(head: str, family, value) -> float:
    """A plug-in's value as a float inside its family's declared range (NaN allowed:
    'no value here'); anything else fails the job naming the metric."""
    try:
        if isinstance(value, (str, bytes)):  # "0.5" is a bug in the scorer, not a value
            raise TypeError
        number = float(value)  # a numpy or one-element torch scalar is a number
    except Exception:  # noqa: BLE001 - whatever it returned cannot be read as one
        raise MetricFailed(f"{head} returned {type(value).__name__}, not a number") from None
    slack = 1e-6 * max(1.0, abs(number))  # rounding at a bound (a cosine of 1.0000001)
    if not math.isnan(number) and not family.lower - slack <= number <= family.upper + slack:
        raise MetricFailed(
            f"{head} returned {number!r}, outside its declared range "
            f"[{family.lower}, {family.upper}]"
        )
    return number


@dataclass
class ScoreStage:
    """Score every cell of the run's plan (see the module docstring)."""

    ctx: RunContext
    name: ClassVar[str] = "score"

    @property
    def plan(self) -> RunPlan:
        return self.ctx.plan

    @property
    def store(self):
        return self.ctx.store

    def run(self) -> list[dict[str, float]]:
        """Per cell, {column label: value} for every metric; counts one job per
        (cell, metric) or (group, metric). The reference cells' values (cell metrics
        only: a group metric pools a grid's cells) go to ``ctx.reference_scores``."""

        stats = self.ctx.stage_stats(self.name)
        start = time.perf_counter()
        rows = []
        call = StageCall(self.name, self.ctx)
        for scored in self.ctx.executor.map(self.name, self.plan.cells, call):
            stats.computed += scored.computed
            stats.cached += scored.cached
            self.ctx.backbones.update(scored.backbones)
            rows.append(scored.values)
        for metric in (m for m in self.plan.metrics if m.info.scope == "group"):
            self._score_group(metric, rows, stats)
        # the reference rows (runner/reference_cells.py): cell metrics, as a grid cell
        self.ctx.reference_scores = []
        for scored in self.ctx.executor.map(self.name, self.plan.reference_cells, call):
            stats.computed += scored.computed
            stats.cached += scored.cached
            self.ctx.backbones.update(scored.backbones)
            self.ctx.reference_scores.append(scored.values)
        stats.seconds += time.perf_counter() - start
        stats.total = stats.cached + stats.computed
        return rows

    def run_job(self, cell: CellPlan) -> CellScores:
        """Read the cell's stored scores (checked: a damaged one is set aside) and compute
        the missing ones under the edit's lock, so two runs sharing a store never
        compute a score twice."""
        context = score_context(self.plan, cell)
        keys = score_keys(self.plan, cell, context)
        scored = CellScores()
        records = {m: r for m, k in keys.items() if (r := self.store.read_json("scores", k))}
        if len(records) < len(keys):
            with self.store.lock("scores", cell.edit):
                inputs = None
                for metric in (m for m in self.plan.metrics if m.text in keys):
                    key = keys[metric.text]
                    if metric.text in records:
                        continue
                    found = self.store.read_json("scores", key)  # scored while this waited
                    if found:
                        records[metric.text] = found
                        continue
                    inputs = inputs or self._inputs(cell, context)
                    value = _scored(metric, inputs)
                    label = registry.column_label(metric)
                    record = {"label": label, "value": _finite_or_nan(value)}
                    record["backbones"] = _resolved_backbones(metric)
                    self.store.write_json("scores", key, record)
                    records[metric.text] = record
                    scored.computed += 1
        scored.cached = len(keys) - scored.computed
        for metric_text in keys:
            record = records[metric_text]
            scored.backbones[record["label"]] = record.get("backbones", {})
            scored.values[record["label"]] = _from_json(record["value"])
        return scored

    def _score_group(self, metric, rows: list[dict], stats: StageStats) -> None:
        drop = metric.info.pools_over  # the axis whose cells share one value
        groups: dict[str, list[int]] = defaultdict(list)
        for index, cell in enumerate(self.plan.cells):
            axes = {k: v for k, v in cell.cell.axes if k != drop}
            ident = {"item": cell.cell.item, "axes": axes}
            if drop != "prompt":
                ident["prompt"] = cell.cell.prompt_index
            groups[digest(ident)].append(index)
        for members in groups.values():
            edit_keys = sorted(self.plan.cells[i].edit for i in members)
            key = score_key(digest(edit_keys), metric.text, registry.score_identity(metric))
            self.ctx.group_score_keys.add(key)
            record = self.store.read_json("scores", key)  # checked: damaged is set aside
            computed = False
            if record is None:
                with self.store.lock("scores", key):
                    record = self.store.read_json("scores", key)
                    if record is None:
                        record = self._write_group_score(metric, key, members[0], edit_keys)
                        computed = True
            stats.computed += computed
            stats.cached += not computed
            self.ctx.backbones[record["label"]] = record.get("backbones", {})
            for i in members:
                rows[i][record["label"]] = _from_json(record["value"])

    def _write_group_score(self, metric, key: str, first: int, edit_keys: list[str]) -> dict:
        size = self._score_size(self.plan.cells[first])
        edits = [self._load01(self.ctx.edit_image(k), size) for k in edit_keys]
        value = _scored(metric, edits)
        record = {"label": registry.column_label(metric), "value": _finite_or_nan(value)}
        record["backbones"] = _resolved_backbones(metric)
        self.store.write_json("scores", key, record)
        return record

    def _score_size(self, cell: CellPlan) -> tuple[int, int]:
        size = self.plan.protocol.scoring.size
        if size == "source":
            return image_size(self.plan.items[cell.cell.item].image_path)
        return hxw(size)

    def _load01(self, path: Path, size: tuple[int, int], mode: str = "RGB") -> torch.Tensor:
        resample = RESAMPLE[self.plan.protocol.scoring.resample] if mode == "RGB" else Image.NEAREST
        img, _ = open_image(path, mode)  # sources and masks as the fine-tune saw them
        if (img.height, img.width) != size:
            img = img.resize((size[1], size[0]), resample)  # PIL: antialiased when shrinking
        array = np.asarray(img, dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array.copy())
        return tensor.permute(2, 0, 1)[None] if tensor.dim() == 3 else tensor[None, None]

    def _inputs(self, cell: CellPlan, context: dict) -> CellInputs:
        item = self.plan.items[cell.cell.item]
        size = self._score_size(cell)
        keep = None
        mask_path = item.mask_for(cell.cell.prompt)
        if mask_path is not None:
            keep = self._load01(mask_path, size, mode="L") < 0.5
        target_path = item.target_for(cell.cell.prompt)
        return CellInputs(
            source=self._load01(item.image_path, size),
            edit=self._load01(self.ctx.edit_image(cell.edit), size),
            prompt=cell.cell.prompt,
            source_text=item.spec.source,
            target_caption=context["target"],
            keep=keep,
            target=self._load01(target_path, size) if target_path else None,
            reference=self._load01(self.ctx.edit_image(cell.reference), size)
            if cell.reference
            else None,
            memorized=self._load01(self.ctx.edit_image(cell.memorized), size)
            if cell.memorized
            else None,
            **self._anchor_inputs(cell, size),
        )

    def _anchor_inputs(self, cell: CellPlan, size: tuple[int, int]) -> dict:
        if not cell.anchors:
            return {}
        return {
            f"anchors_{kind}": [self._load01(self.ctx.edit_image(k), size) for k in keys]
            for kind, keys in cell.anchors.items()
        }


def _resolved_backbones(metric) -> dict[str, str]:
    """kind -> the name the loaded backbone reports (e.g. lpips -> 'st_lpips[alex]')."""
    resolved = {}
    for kind, name in metric.backbones().items():
        loaded = backbones.load_backbone(kind, name, metric.text)
        resolved[kind] = getattr(loaded, "name", None) or f"{kind}:{name}"
    return resolved


def _finite_or_nan(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _from_json(value) -> float:
    return math.nan if value is None else float(value)
