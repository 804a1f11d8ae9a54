"""The fine-tune stage: every training job (SINE's fine-tune or a method's own), keyed.

Each job takes its key's lock, returns at once if the key is already done, and
otherwise trains through its method (``Method.train``) and writes the entry atomically.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import ClassVar

from ..images import load_image
from ..methods import FinetuneJob, get_method, training_steps
from ..methods.plugins import plugin_code
from .context import RunContext, StageCall

TIMING_FILE = "sine_bench_timing.json"  # in every training folder: its wall time here


@dataclass
class FinetuneStage:
    ctx: RunContext
    name: ClassVar[str] = "fine-tune"

    def run(self) -> None:
        """Train every job not in the store yet; counts training steps run here."""

        store = self.ctx.store
        for stage in ("finetunes", "edits", "scores", "plots"):  # leftovers of a killed run
            store.sweep(stage)
        jobs = sorted(self.ctx.plan.finetunes.values(), key=lambda j: j.key)
        stats = self.ctx.stage_stats(self.name)
        stats.total += len(jobs)
        todo = [j for j in jobs if not store.check("finetunes", j.key)]
        stats.cached += len(jobs) - len(todo)
        start = time.perf_counter()
        results = self.ctx.executor.map(self.name, todo, StageCall(self.name, self.ctx))
        stats.seconds += time.perf_counter() - start
        for job, computed in zip(todo, results, strict=True):
            stats.computed += bool(computed)
            stats.cached += not computed  # finished by another run meanwhile
            stats.training_steps += training_steps(job) if computed else 0

    def run_job(self, job: FinetuneJob) -> bool:
        """Train one job into the store with its wall time in ``TIMING_FILE``; False when
        another run stored it first."""
        store, models = self.ctx.store, self.ctx.models
        with store.lock("finetunes", job.key):
            if store.done("finetunes", job.key):
                return False
            image = load_image(job.image)
            method = get_method(job.trainer)
            model = models.model if method.needs_model else None
            start = time.perf_counter()
            with store.write_dir("finetunes", job.key) as folder, plugin_code(method, "train"):
                method.train(model, image, job, folder)
                timing = {"seconds": time.perf_counter() - start, "steps": training_steps(job)}
                (folder / TIMING_FILE).write_text(json.dumps(timing))
        return True
