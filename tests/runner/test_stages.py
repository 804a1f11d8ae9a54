"""The runner reaches a method only through the ``Method`` seam: a method that is not
shipped (registered here, as a plug-in would be) gets its own training, loading, step
count, label, input preparation and edit units, exactly as SINE does."""

from __future__ import annotations

import json
import shutil

import pytest

from sine_bench.methods import Edit, EditJob, Method, PlannedCell, Training
from sine_bench.methods.base import EditOutput
from sine_bench.methods.registry import METHODS
from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.context import STAGE_TYPES, RunContext, StageCall
from sine_bench.runner.edit_stage import EditStage
from sine_bench.runner.executors import LocalExecutor
from sine_bench.runner.finetune_stage import TIMING_FILE, FinetuneStage
from sine_bench.runner.plan import build_plan
from sine_bench.runner.store import Store
from tests.helpers import write_protocol


class Echo(Method):
    """A plug-in stand-in: trains a file of its own, edits in pairs."""

    name = "echo"
    trains = "a text file (its own key)"

    def plan_cell(self, ctx):
        training = Training(ctx.cell.prompt, {"steps": 3, "echo": 1}, trainer=self.name)
        settings = {"height": ctx.cell.height, "width": ctx.cell.width, "steps": 1}
        settings["seed"] = ctx.cell.edit.seed
        return PlannedCell(Edit("cell", ctx.cell.prompt, settings, "training", self.name), training)

    def training_steps(self, settings):
        return 10 * settings["steps"]

    def training_label(self, settings):
        return "echo-file"

    def training_preparation(self, training, source_hw, native, factor, notes):
        return {"echo": list(source_hw)}

    def edit_units(self, jobs: list[EditJob]):
        jobs = sorted(jobs, key=lambda j: j.key)
        return [(tuple(jobs[i : i + 2]), 2) for i in range(0, len(jobs), 2)]

    def train(self, model, image, job, folder):
        (folder / "echo.txt").write_text(job.prompt)

    def load_trained(self, folder, model):
        return (folder / "echo.txt").read_text()


@pytest.fixture
def echo_plan(tmp_path):
    with METHODS.registered("echo", Echo):
        grid = {"v": None, "K": None, "resolution": ["64x64"], "seeds": [0, 1]}
        path = write_protocol(tmp_path, methods={"echo": {}}, grid=grid, metrics=[])
        yield build_plan(load_protocol(path))


def test_planning_asks_the_method(echo_plan):
    plan = echo_plan
    assert plan.finetunes and all(j.trainer == "echo" for j in plan.finetunes.values())
    assert {u.sampler for u in plan.units} == {"echo"}
    # its own units: pairs of its edits, batch size 2
    assert all(len(u.jobs) <= 2 and u.batch_size == 2 for u in plan.units)
    assert sum(len(u.jobs) for u in plan.units) == len(plan.edits)
    # the edit jobs carry the source (a method reads it unless it says it does not)
    assert all(j.image is not None and j.item for j in plan.edits.values())


def test_training_preparation_enters_the_key(echo_plan, monkeypatch):
    before = set(echo_plan.finetunes)
    monkeypatch.setattr(Echo, "training_preparation", lambda self, *args: {"echo": "other"})
    protocol = echo_plan.protocol
    assert set(build_plan(protocol).finetunes).isdisjoint(before)


def test_fine_tune_stage_trains_and_loads_through_the_method(echo_plan, tmp_path):
    ctx = RunContext(echo_plan, Store(tmp_path / "store"), LocalExecutor(progress=False))
    ctx.models._model = object()  # the seam hands it over; Echo never touches it
    FinetuneStage(ctx).run()
    stats = ctx.stats["fine-tune"]
    assert stats.computed == len(echo_plan.finetunes) and stats.cached == 0
    assert stats.training_steps == 30 * len(echo_plan.finetunes)  # Echo's own count
    for key, job in echo_plan.finetunes.items():
        timing = json.loads((ctx.store.path("finetunes", key) / TIMING_FILE).read_text())
        assert timing["steps"] == 30
        assert ctx.models.trained(key) == job.prompt  # loaded by Echo.load_trained
    FinetuneStage(ctx).run()  # all in the store now
    assert ctx.stats["fine-tune"].cached == len(echo_plan.finetunes)


def test_a_stage_call_names_its_stage_and_runs_one_job(echo_plan, tmp_path):
    assert set(STAGE_TYPES.names()) == {"fine-tune", "edit", "score", "import"}
    ctx = RunContext(echo_plan, Store(tmp_path / "store"), LocalExecutor(progress=False))
    ctx.models._model = object()
    job = next(iter(echo_plan.finetunes.values()))
    call = StageCall("fine-tune", ctx)
    assert call(job) is True and call(job) is False  # trained, then found in the store
    shipped = call.worker_run()
    assert shipped.plan is echo_plan and shipped.root == str((tmp_path / "store").resolve())


class PictureEcho(Echo):
    """Echo whose edits are grey images (a black-box editor's way)."""

    returns_images = True

    def count(self, jobs):
        return {"naive": 0, "shared": 0}  # no UNet

    def run_unit(self, runtime, jobs, counter):
        from PIL import Image

        size = lambda job: (job.settings["width"], job.settings["height"])  # noqa: E731
        return [EditOutput(Image.new("RGB", size(j), "grey"), 0.0, 0.0, "none") for j in jobs]


def test_a_unit_mixing_stored_and_new_edits_counts_each_edit_once(tmp_path):
    """A unit whose edits are partly stored (a source added to a protocol joins a batch of
    stored edits) computes only the missing ones and counts each edit once."""
    with METHODS.registered("echo", PictureEcho):
        grid = {"v": None, "K": None, "resolution": ["64x64"], "seeds": [0, 1]}
        path = write_protocol(tmp_path, methods={"echo": {}}, grid=grid, metrics=[])
        plan = build_plan(load_protocol(path))
        ctx = RunContext(plan, Store(tmp_path / "store"), LocalExecutor(progress=False))
        ctx.models._model = object()
        FinetuneStage(ctx).run()
        EditStage(ctx).run()
        unit = next(u for u in plan.units if len(u.jobs) == 2)
        shutil.rmtree(ctx.store.path("edits", unit.jobs[0].key))  # one of its two edits
        ctx.stats.clear()
        EditStage(ctx).run()
    stats = ctx.stats["edit"]
    assert (stats.total, stats.computed) == (len(plan.edits), 1)
    assert stats.cached == len(plan.edits) - 1
