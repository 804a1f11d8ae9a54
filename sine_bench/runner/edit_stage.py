"""The edit stage: every edit unit with a missing edit, computed by its method.

A unit is sampled whole (so batching never depends on what was cached) under its lock;
the edits still missing are stored one by one under theirs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from ..images import save_png_atomic
from ..methods import EditJob, get_method
from ..methods.plugins import plugin_code
from .context import RunContext, StageCall
from .plan import EditUnit, unet_evaluations


@dataclass
class EditStage:
    ctx: RunContext
    name: ClassVar[str] = "edit"

    def run(self) -> None:
        """Run every unit with a missing edit; counts edits (not units) in the stats."""

        plan, store = self.ctx.plan, self.ctx.store
        stats = self.ctx.stage_stats(self.name)
        stats.total += len(plan.edits)
        done = {k for k in plan.edits if store.check("edits", k)}
        todo = [u for u in plan.units if any(j.key not in done for j in u.jobs)]
        start = time.perf_counter()
        results = self.ctx.executor.map(self.name, todo, StageCall(self.name, self.ctx))
        stats.seconds += time.perf_counter() - start
        computed = sum(result["computed"] for result in results)
        stats.computed += computed
        # every other edit of the plan was stored: before the stage, or by another run
        # meanwhile (a unit may mix stored edits with new ones: pretrained edits batch
        # across sources), each counted once
        stats.cached += len(plan.edits) - computed
        for result in results:
            stats.unet_evaluations += result["unet_evaluations"]
            stats.unet_evaluations_finetuned += result["unet_evaluations_finetuned"]

    def run_job(self, unit: EditUnit) -> dict[str, int]:
        """Sample one unit and store its missing edits; returns counts instead of touching
        shared state, so the executor may run it in another process."""
        from ..sine import EvaluationCounter

        store, models = self.ctx.store, self.ctx.models
        with store.lock("edit-units", unit.key):
            missing = {j.key for j in unit.jobs if not store.done("edits", j.key)}
            result = {"computed": 0, "cached": len(unit.jobs) - len(missing)}
            result["unet_evaluations"] = result["unet_evaluations_finetuned"] = 0
            if not missing:
                return result
            counter = EvaluationCounter()
            method = get_method(unit.sampler)
            start = time.perf_counter()
            with plugin_code(method, f"run_unit of edit unit {unit.key[:12]}"):
                outputs = method.run_unit(models, list(unit.jobs), counter)
            seconds = time.perf_counter() - start
            shared = {"key": unit.key, "edits": len(unit.jobs), "seconds": seconds}
            shared["unet_evaluations"] = counter.total
            for job, out in zip(unit.jobs, outputs, strict=True):
                if job.key not in missing:
                    continue
                if method.returns_images:  # an EditOutput, timed alone (its unit is itself)
                    cost = {"seconds": out.seconds, "peak_memory_mb": out.peak_memory_mb}
                    image, meta = out.image, shared | cost | {"memory": out.memory}
                else:
                    image, meta = models.model.decode(out), shared
                result["computed"] += self._write_edit(job, image, meta)
            result["cached"] = len(unit.jobs) - result["computed"]
            result["unet_evaluations"] = counter.total
            result["unet_evaluations_finetuned"] = counter.finetuned
        return result

    def _write_edit(self, job: EditJob, image: Any, unit: dict) -> int:
        """Store one edit (1 if written, 0 if another run stored it meanwhile)."""
        store = self.ctx.store
        with store.lock("edits", job.key):
            if store.done("edits", job.key):
                return 0
            meta = {
                "kind": job.kind,
                "prompt": job.prompt,
                "finetune": job.finetune,
                "settings": job.settings,
                "unet_evaluations": unet_evaluations([job])["naive"],  # this edit alone
                "unit": unit,
            }
            with store.write_dir("edits", job.key) as folder:
                save_png_atomic(image, folder / "edit.png")
                (folder / "edit.json").write_text(json.dumps(meta, indent=1))
        return 1
