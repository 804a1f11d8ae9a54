"""The black-box editor contract, checked before anything runs (one error naming the
plug-in), and what the adapter refuses while it runs (an output of the wrong size or
type), on synthetic editors; no model loads."""

from __future__ import annotations

import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.methods.base import EditJob
from sine_bench.methods.blackbox import BlackBoxMethod, EditorOutputError, check_editor
from sine_bench.plugins import PluginOrigin
from sine_bench.protocol.fields import MethodError, ProtocolError
from sine_bench.protocol.loading import load_protocol
from sine_bench.protocol.method_checks import METHODS
from tests.helpers import ROOT, write_protocol

ORIGIN = PluginOrigin("my_editors:Editor")
SCENE = ROOT / "datasets" / "paper-toy" / "scene-00.png"


class Good:
    knobs = {"strength": 0.5, "steps": 4, "invert": False, "mode": "soft"}
    version = "2"

    def edit(self, source, source_prompt, target_prompt, seed, **knobs):
        return source


class NoEdit:
    knobs: dict = {}


class KnobsNotADict(Good):
    knobs = [("strength", 0.5)]  # type: ignore[assignment]


class ListDefault(Good):
    knobs = {"sizes": [1, 2]}


class ReservedKnob(Good):
    knobs = {"seed": 1}


class EditMissesAKnob:
    knobs = {"strength": 0.5}

    def edit(self, source, source_prompt, target_prompt, seed):
        return source


class VersionNotText(Good):
    version = 2  # type: ignore[assignment]


class NeedsArguments(Good):
    def __init__(self, checkpoint):  # the harness instantiates with no arguments
        self.checkpoint = checkpoint


class TrainWithoutTrained(Good):
    knobs: dict = {}

    def train(self, source, prompt, folder):
        pass

    def edit(self, source, source_prompt, target_prompt, seed):  # no trained=
        return source


@pytest.mark.parametrize(
    "cls, message",
    [
        (NoEdit, "is neither a sine_bench Method subclass nor a black-box editor"),
        (KnobsNotADict, "has no 'knobs' class attribute, a dict of defaults"),
        (ListDefault, r"knob 'sizes': default \[1, 2\] is not a bool, int, float or str"),
        (ReservedKnob, "knob 'seed' is not a usable keyword name"),
        (EditMissesAKnob, r"edit\(\) cannot be called as the contract calls it"),
        (VersionNotText, "version must be a str"),
        (TrainWithoutTrained, r"edit\(\) cannot be called .*'trained'"),
        (NeedsArguments, r"__init__\(\) cannot be called .*'checkpoint'"),
    ],
)
def test_a_broken_contract_is_one_error_naming_the_plugin(cls, message):
    with pytest.raises(MethodError, match=message) as err:
        check_editor("mine", ORIGIN, cls)
    text = str(err.value)
    assert text.startswith("method 'mine' (plug-in my_editors:Editor") and "\n" not in text


def test_knobs_take_the_types_of_their_defaults():
    check_editor("mine", ORIGIN, Good)
    method = BlackBoxMethod("mine", Good, ORIGIN)
    assert {k.name: k.kind for k in method.knobs} == {
        "strength": float,
        "steps": int,
        "invert": bool,
        "mode": str,
    }
    assert method.knob("strength").check(1) == 1.0  # an int is a float's value
    for knob, value in [("steps", 2.5), ("invert", 1), ("mode", 3), ("strength", "high")]:
        with pytest.raises(ValueError, match=f"knob {knob!r} takes a"):
            method.knob(knob).check(value)
    assert method.column("strength") == "mine.strength" and method.version == "2"


def editor_module(tmp_path, monkeypatch, body: str) -> None:
    (tmp_path / "my_editors.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_editors", raising=False)


@pytest.fixture
def forget_mine():
    yield
    METHODS.unregister("mine")


GOOD = """
class Editor:
    knobs = {"strength": 0.5}
    def edit(self, source, source_prompt, target_prompt, seed, strength):
        return source
"""


def test_a_protocol_value_of_the_wrong_type_is_one_line_naming_the_knob(
    tmp_path, monkeypatch, forget_mine
):
    editor_module(tmp_path, monkeypatch, GOOD)
    method = {"class": "my_editors:Editor", "grid": {"strength": [0.2, "high"]}}
    path = write_protocol(tmp_path, methods={"mine": method}, grid={"v": None, "K": None})
    with pytest.raises(ProtocolError, match="knob 'strength' takes a float, got 'high'") as err:
        load_protocol(path)
    assert "\n" not in str(err.value)


def test_a_class_may_not_take_a_shipped_methods_name(tmp_path, monkeypatch):
    editor_module(tmp_path, monkeypatch, GOOD)
    path = write_protocol(tmp_path, methods={"sdedit": {"class": "my_editors:Editor"}})
    with pytest.raises(ProtocolError, match="method 'sdedit' ships with sine-bench"):
        load_protocol(path)


@pytest.mark.parametrize(
    "target, message",
    [
        ("no_such_module:Editor", "cannot import no_such_module (ModuleNotFoundError"),
        ("my_editors:Missing", "my_editors has no 'Missing'"),
        ("my_editors:not a class", "is not of the form module:Class"),
    ],
)
def test_plan_refuses_a_bad_class_in_one_line_before_compute(
    tmp_path, monkeypatch, forget_mine, target, message
):
    editor_module(tmp_path, monkeypatch, GOOD)
    path = write_protocol(tmp_path, methods={"mine": {"class": target}})
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "store").exists() and not (tmp_path / "run").exists()


def test_plan_lists_the_plugins_a_protocol_uses_and_what_keys_them(
    tmp_path, monkeypatch, forget_mine
):
    editor_module(tmp_path, monkeypatch, GOOD)
    methods = {"mine": {"class": "my_editors:Editor"}}
    path = write_protocol(tmp_path, methods=methods, grid={"v": None, "K": None})
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("plug-in method"))
    assert f"'mine': my_editors:Editor ({tmp_path / 'my_editors.py'}); keyed on" in line
    assert "'source': '" in line


def job(height: int, width: int, **knobs) -> EditJob:
    settings = {"knobs": knobs, "source_prompt": "a large blue circle on a red background"}
    settings |= {"height": height, "width": width, "seed": 0}
    return EditJob("k", "cell", None, "a green circle", settings, "mine", "scene-00", SCENE)


class Shrinks(Good):
    knobs: dict = {}

    def edit(self, source, source_prompt, target_prompt, seed):
        return source.resize((source.width // 2, source.height // 2))


class ReturnsArray(Good):
    knobs: dict = {}

    def edit(self, source, source_prompt, target_prompt, seed):
        return [[0]]


def test_an_output_of_another_size_or_type_is_an_error_naming_the_editor():
    ok = BlackBoxMethod("mine", Good, ORIGIN).run_unit(None, [job(64, 96, strength=0.5)], None)
    assert ok[0].image.size == (96, 64) and ok[0].seconds >= 0  # the source at the cell's size
    with pytest.raises(
        EditorOutputError,
        match=r"is 48x32 \(width x height\), the source it got 96x64: .*nothing is resized",
    ):
        BlackBoxMethod("mine", Shrinks, ORIGIN).run_unit(None, [job(64, 96)], None)
    with pytest.raises(EditorOutputError, match="returned list, not a PIL image"):
        BlackBoxMethod("mine", ReturnsArray, ORIGIN).run_unit(None, [job(64, 64)], None)
    assert isinstance(ok[0].image, Image.Image)


class ReturnsMode(Good):
    knobs = {"mode": "L"}

    def edit(self, source, source_prompt, target_prompt, seed, mode):
        return source.convert("L").convert(mode)


def test_an_edit_in_another_mode_is_stored_as_rgb_and_a_float_one_is_refused():
    method = BlackBoxMethod("mine", ReturnsMode, ORIGIN)
    for mode in ("L", "RGBA", "I;16", "P"):
        (out,) = method.run_unit(None, [job(64, 96, mode=mode)], None)
        assert out.image.mode == "RGB" and out.image.size == (96, 64), mode
    grey = method.run_unit(None, [job(64, 96, mode="L")], None)[0].image
    assert grey.getpixel((0, 0))[0] == grey.getpixel((0, 0))[2]  # the grey level, each channel
    with pytest.raises(EditorOutputError, match=r"method 'mine' .*returned a F image: 32-bit"):
        method.run_unit(None, [job(64, 96, mode="F")], None)


class KeepsAnExifRotation(Good):
    knobs: dict = {}

    def edit(self, source, source_prompt, target_prompt, seed):
        exif = Image.Exif()
        exif[0x0112] = 6  # shown rotated: 64 wide, 96 high
        source.info["exif"] = exif.tobytes()
        return source


def test_an_edit_is_sized_as_it_is_shown_after_its_exif_orientation():
    with pytest.raises(
        EditorOutputError, match=r"is 64x96 \(width x height\), the source it got 96x64"
    ):
        BlackBoxMethod("mine", KeepsAnExifRotation, ORIGIN).run_unit(None, [job(64, 96)], None)


METHOD_PLUGIN = """
from sine_bench.methods.base import Edit, Method, PlannedCell, sampling_settings

class Mine(Method):
    '''A method subclass named by a protocol.'''
    name = "mine-internal"
    trains = "nothing"
    def plan_cell(self, ctx):
        settings = {"method": self.name} | sampling_settings(ctx.cell, batched=False)
        return PlannedCell(Edit("cell", ctx.cell.prompt, settings, "source", self.name))
    def count(self, jobs):
        return {"naive": 0, "shared": 0}
    def run_unit(self, runtime, jobs, counter):
        return []
"""


def test_a_method_subclass_named_by_class_is_keyed_on_its_source(
    tmp_path, monkeypatch, forget_mine
):
    from sine_bench.runner.plan import build_plan

    editor_module(tmp_path, monkeypatch, METHOD_PLUGIN)
    methods = {"mine": {"class": "my_editors:Mine"}, "sdedit": {}}
    path = write_protocol(tmp_path, methods=methods, grid={"v": None, "K": None})
    plan = build_plan(load_protocol(path))
    jobs = {j.sampler: j for j in plan.edits.values()}
    assert METHODS.get("mine").name == "mine"  # the protocol's name, not the class's
    assert jobs["mine"].settings["plugin"]["module"] == "my_editors"
    assert "plugin" not in jobs["sdedit"].settings  # what ships is keyed as before


BROKEN_METHODS = """
from sine_bench.methods.base import Edit, Method, PlannedCell, sampling_settings

class Half(Method):
    name = "half"
    trains = "nothing"
    def plan_cell(self, ctx):
        raise AssertionError("never planned")

class PlansBadly(Method):
    name = "plans-badly"
    trains = "nothing"
    def plan_cell(self, ctx):
        return 1 / 0
    def count(self, jobs):
        return {"naive": 0, "shared": 0}
    def run_unit(self, runtime, jobs, counter):
        return []

class RunsBadly(PlansBadly):
    def plan_cell(self, ctx):
        settings = sampling_settings(ctx.cell, batched=False)
        return PlannedCell(Edit("cell", ctx.cell.prompt, settings, "source", self.name))
    def run_unit(self, runtime, jobs, counter):
        raise KeyError("latents")
"""


def test_a_method_subclass_plugin_that_breaks_its_contract_is_one_line(
    tmp_path, monkeypatch, forget_mine
):
    from sine_bench.runner.executors import JobsFailed
    from sine_bench.runner.plan import PlanError, build_plan
    from sine_bench.runner.run import run_protocol

    editor_module(tmp_path, monkeypatch, BROKEN_METHODS)
    grid = {"v": None, "K": None}
    path = write_protocol(tmp_path, methods={"mine": {"class": "my_editors:Half"}}, grid=grid)
    with pytest.raises(ProtocolError, match=r"Half does not implement count, run_unit"):
        load_protocol(path)
    path = write_protocol(tmp_path, methods={"mine": {"class": "my_editors:PlansBadly"}}, grid=grid)
    with pytest.raises(PlanError, match=r"raised in plan_cell of item .*: ZeroDivisionError"):
        build_plan(load_protocol(path))
    path = write_protocol(tmp_path, methods={"mine": {"class": "my_editors:RunsBadly"}}, grid=grid)
    with pytest.raises(JobsFailed) as failed:
        run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    reason = failed.value.failures[0][1]
    assert reason.startswith("method 'mine' (plug-in my_editors:RunsBadly (")
    assert "raised in run_unit of edit unit" in reason and "KeyError: 'latents'" in reason
    assert not list((tmp_path / "store").rglob("edit.png"))
