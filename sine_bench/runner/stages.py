"""The three stages, each a set of keyed jobs: fine-tune -> edit -> score.

Each job takes its key's lock, returns at once if the key is already done, and
otherwise computes and writes its entry atomically. Edits always load their
fine-tune from the store (never the in-memory copy), so a resumed run and an
uninterrupted one compute from the same bytes. A stage trusts a stored entry only
after ``Store.check`` (its digest): a damaged one is set aside and computed again,
also when it is found damaged or gone later in the run (``trained``, ``edit_image``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..images import load_image, save_png_atomic
from ..methods import EditJob, FinetuneJob, training_steps
from .executors import Executor
from .plan import EditUnit, RunPlan, unet_evaluations
from .scoring import ScoringStage, StageStats
from .store import Store, StoreDamaged

TIMING_FILE = "sine_bench_timing.json"  # in every training folder: its wall time here


@dataclass
class Stages(ScoringStage):
    plan: RunPlan
    store: Store
    executor: Executor
    stats: dict[str, StageStats] = field(default_factory=dict)
    backbones: dict[str, dict[str, str]] = field(default_factory=dict)  # metric -> resolved
    group_score_keys: set[str] = field(default_factory=set)  # read by this run
    _model: object = None
    _finetuned: tuple[str, object] | None = None

    # ------------------------------------------------------------------ models
    @property
    def model(self):
        if self._model is None:
            from ..models import load_model

            _quiet_hf_progress()
            spec = self.plan.protocol.model
            self._model = load_model(
                spec.name,
                device=spec.device,
                dtype=spec.dtype,
                seed=spec.seed,
                revision=spec.revision,
            )
        return self._model

    def trained(self, key: str):
        """The training artifact under ``key``, loaded from the store (one kept at a time):
        a SINE fine-tune's FinetunedModel, or what its method's ``load_trained`` gives."""
        from ..methods import get_method
        from ..sine import load_finetune

        if self._finetuned is None or self._finetuned[0] != key:
            self._finetuned = None  # free the previous one before loading the next
            if not self.store.check("finetunes", key):  # damaged or gone since its stage
                self._finetune(self.plan.finetunes[key])
            folder = self.store.path("finetunes", key)
            trainer = self.plan.finetunes[key].trainer
            if trainer == "sine":
                loaded = load_finetune(folder, self.model).model
            else:
                loaded = get_method(trainer).load_trained(folder, self.model)
            self._finetuned = (key, loaded)
        return self._finetuned[1]

    def _run(self, stage: str, jobs: list, done, fn) -> list:
        stats = self.stats.setdefault(stage, StageStats())
        stats.total += len(jobs)
        todo = [j for j in jobs if not done(j)]
        stats.cached += len(jobs) - len(todo)
        start = time.perf_counter()
        results = self.executor.map(stage, todo, fn)
        stats.seconds += time.perf_counter() - start
        stats.computed += sum(1 for r in results if r)
        stats.cached += sum(1 for r in results if not r)  # finished by another run meanwhile
        return results

    # ------------------------------------------------------------------ fine-tune
    def finetune_all(self) -> None:
        for stage in ("finetunes", "edits", "scores", "plots"):  # leftovers of a killed run
            self.store.sweep(stage)
        jobs = sorted(self.plan.finetunes.values(), key=lambda j: j.key)
        done = {j.key for j in jobs if self.store.check("finetunes", j.key)}
        todo = [j for j in jobs if j.key not in done]
        results = self._run("fine-tune", jobs, lambda j: j.key in done, self._finetune)
        for job, computed in zip(todo, results, strict=True):
            self.stats["fine-tune"].training_steps += training_steps(job) if computed else 0

    def _finetune(self, job: FinetuneJob) -> bool:
        """Train one job (SINE's fine-tune, or its method's own training) into the store,
        with its wall time in ``TIMING_FILE``."""
        from ..methods import get_method
        from ..sine import FinetuneSettings, finetune, save_finetune

        with self.store.lock("finetunes", job.key):
            if self.store.done("finetunes", job.key):
                return False
            image = load_image(job.image)
            start = time.perf_counter()
            if job.trainer == "sine":
                settings = FinetuneSettings.from_dict(job.settings)
                result = finetune(self.model, image, job.prompt, settings, progress=False)
            with self.store.write_dir("finetunes", job.key) as folder:
                if job.trainer == "sine":
                    save_finetune(result, folder)
                else:
                    get_method(job.trainer).train(self.model, image, job, folder)
                timing = {"seconds": time.perf_counter() - start, "steps": training_steps(job)}
                (folder / TIMING_FILE).write_text(json.dumps(timing))
        return True

    # ------------------------------------------------------------------ edit
    def edit_all(self) -> None:
        """Run every edit unit with a missing edit; counts edits (not units) in the stats."""
        stats = self.stats.setdefault("edit", StageStats())
        stats.total += len(self.plan.edits)
        done = {k for k in self.plan.edits if self.store.check("edits", k)}
        stats.cached += len(done)
        todo = [u for u in self.plan.units if any(j.key not in done for j in u.jobs)]
        start = time.perf_counter()
        results = self.executor.map("edit", todo, self._edit_unit)
        stats.seconds += time.perf_counter() - start
        for result in results:
            stats.computed += result["computed"]
            stats.cached += result["cached"]
            stats.unet_evaluations += result["unet_evaluations"]
            stats.unet_evaluations_finetuned += result["unet_evaluations_finetuned"]

    def _edit_unit(self, unit: EditUnit) -> dict[str, int]:
        """Sample a whole unit (so batching never depends on what was cached) and store
        the edits still missing; returns counts instead of touching shared state, so the
        executor may run it in another process."""
        from ..methods import get_method
        from ..sine import EvaluationCounter

        with self.store.lock("edit-units", unit.key):
            missing = {j.key for j in unit.jobs if not self.store.done("edits", j.key)}
            result = {"computed": 0, "cached": len(unit.jobs) - len(missing)}
            result["unet_evaluations"] = result["unet_evaluations_finetuned"] = 0
            if not missing:
                return result
            counter = EvaluationCounter()
            start = time.perf_counter()
            latents = get_method(unit.sampler).run_unit(self, list(unit.jobs), counter)
            seconds = time.perf_counter() - start
            shared = {"key": unit.key, "edits": len(unit.jobs), "seconds": seconds}
            shared["unet_evaluations"] = counter.total
            for job, z in zip(unit.jobs, latents, strict=True):
                if job.key in missing:
                    result["computed"] += self._write_edit(job, self.model.decode(z), shared)
            result["cached"] = len(unit.jobs) - result["computed"]
            result["unet_evaluations"] = counter.total
            result["unet_evaluations_finetuned"] = counter.finetuned
        return result

    def _write_edit(self, job: EditJob, image: torch.Tensor, unit: dict) -> int:
        """Store one edit (1 if written, 0 if another run stored it meanwhile)."""
        with self.store.lock("edits", job.key):
            if self.store.done("edits", job.key):
                return 0
            meta = {
                "kind": job.kind,
                "prompt": job.prompt,
                "finetune": job.finetune,
                "settings": job.settings,
                "unet_evaluations": unet_evaluations([job])["naive"],  # this edit alone
                "unit": unit,
            }
            with self.store.write_dir("edits", job.key) as folder:
                save_png_atomic(image, folder / "edit.png")
                (folder / "edit.json").write_text(json.dumps(meta, indent=1))
        return 1

    def edit_image(self, key: str) -> Path:
        """The stored edit's PNG, checked; an edit damaged or gone since the edit stage
        (another process, a disk) is computed again with its unit, never an input error."""
        if not self.store.check("edits", key):
            unit = next(u for u in self.plan.units if any(j.key == key for j in u.jobs))
            self._edit_unit(unit)
            if not self.store.check("edits", key):
                raise StoreDamaged(
                    f"store entry {self.store.path('edits', key)}: missing after computing "
                    "it again (check the store's disk, then rerun)"
                )
        return self.store.path("edits", key) / "edit.png"


def _quiet_hf_progress() -> None:
    """diffusers/transformers draw a bar per save/load; ours per stage is enough."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dlog.disable_progress_bar()
    tlog.disable_progress_bar()


def edit_evaluations(store: Store, job: EditJob) -> int:
    """Recorded UNet evaluations of a stored edit (or the planned count)."""
    meta = store.path("edits", job.key) / "edit.json"
    if meta.exists():
        return int(json.loads(meta.read_text())["unet_evaluations"])
    return unet_evaluations([job])["naive"]
