"""The black-box adapter's optional hooks and its run order and failures: ``identity``
enters the edit keys (and only when an editor has it), edits run grouped by knob
setting in the editor's knob order, and an editor raising mid-run fails its job with
one line naming it, the item, the prompt and the seed (exit 2 for an InputError of its
own, 1 for anything else), keeping the finished edits and storing nothing of it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sine_bench.errors import InputError
from sine_bench.methods.base import EditJob
from sine_bench.methods.blackbox import BlackBoxMethod, check_editor
from sine_bench.protocol.fields import MethodError
from tests.helpers import ROOT, write_protocol
from tests.methods.helpers import toy_dataset

HERE = "tests.methods.test_blackbox_hooks"
GRID = {"v": None, "K": None, "resolution": ["64x64"], "seeds": [0]}
pytestmark = pytest.mark.usefixtures("protocol_classes")


class Fingerprinted:
    """Returns the source; keyed on the bytes of the file its ``weights`` knob names."""

    knobs = {"weights": ""}

    def identity(self, **knobs):
        return {"weights": hashlib.sha256(Path(knobs["weights"]).read_bytes()).hexdigest()}

    def edit(self, source, source_prompt, target_prompt, seed, **knobs):
        return source


class Plain:
    """Returns the source; no hooks."""

    knobs = {"weights": ""}

    def edit(self, source, source_prompt, target_prompt, seed, **knobs):
        return source


class Failing:
    """Returns the source, or raises what its ``fail`` knob says."""

    knobs = {"fail": ""}

    def edit(self, source, source_prompt, target_prompt, seed, **knobs):
        if knobs["fail"] == "value":
            raise ValueError("no such colour\nsecond line")
        if knobs["fail"] == "input":
            raise InputError("the prompt names no colour")
        return source


def _plan(tmp_path: Path, methods: dict):
    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.plan import build_plan

    data = toy_dataset(tmp_path / "data", [20_000_000])
    path = write_protocol(tmp_path, dataset=str(data), methods=methods, grid=GRID, metrics=["psnr"])
    return build_plan(load_protocol(path), ROOT)


def test_identity_enters_the_edit_keys_only_of_editors_that_have_it(tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"old")
    knobs = {"knobs": {"weights": str(weights)}}
    methods = {"hooked": {"class": f"{HERE}:Fingerprinted", **knobs}}
    methods["plain"] = {"class": f"{HERE}:Plain", **knobs}

    def keys() -> dict[str, tuple[str, dict]]:
        plan = _plan(tmp_path, methods)
        return {j.sampler: (j.key, j.settings) for j in plan.edits.values()}

    first = keys()
    assert first["hooked"][1]["identity"] == {"weights": hashlib.sha256(b"old").hexdigest()}
    assert "identity" not in first["plain"][1]
    assert keys() == first  # unchanged weights: the same keys
    weights.write_bytes(b"new")  # other weights at the same path
    second = keys()
    assert second["hooked"][0] != first["hooked"][0]
    assert second["plain"] == first["plain"]


def _editor(knobs: dict, **hooks) -> type:
    body = {"knobs": knobs, "edit": lambda self, source, sp, tp, seed, **k: source}
    return type("Editor", (), body | hooks)


def test_identity_must_return_json_values():
    method = BlackBoxMethod("odd", _editor({}, identity=lambda self: {"at": object()}), None)
    with pytest.raises(MethodError, match=r"method 'odd' .*identity returned .*not a dict of JSON"):
        method._inputs_identity({}, {})


def test_check_prompts_takes_no_knob_of_its_name():
    hooks = {"check_prompts": lambda self, prompt_kind, **k: None}
    with pytest.raises(MethodError, match="knob 'prompt_kind' is not a usable keyword name"):
        check_editor("odd", None, _editor({"prompt_kind": ""}, **hooks))


def test_edits_run_grouped_by_knob_setting_in_the_editors_knob_order():
    method = BlackBoxMethod("grid", _editor({"weights": "a", "scale": 1.0}), None)
    jobs = [
        EditJob(f"{i:02d}", "cell", None, "p", {"knobs": {"weights": w, "scale": s}}, "grid")
        for i, (s, w) in enumerate((s, w) for s in (2.0, 1.0, 1) for w in ("b", "a"))
    ]
    order = [job.settings["knobs"] for (job,), _ in method.edit_units(jobs)]
    assert [k["weights"] for k in order] == ["a", "a", "a", "b", "b", "b"]  # one load each
    assert [k["scale"] for k in order] == [1.0, 1, 2.0, 1.0, 1, 2.0]
    assert order == [job.settings["knobs"] for (job,), _ in method.edit_units(jobs[::-1])]


@pytest.mark.parametrize(("fail", "code"), [("value", 1), ("input", 2)])
def test_an_editor_raising_mid_run_fails_its_job_in_one_line(tmp_path, fail, code):
    """Anything but an InputError is a failed job (the others run on, then one line for
    the stage, after one per failed job); an InputError stops the run: exit 2."""
    from sine_bench.cli import app

    data = toy_dataset(tmp_path / "data", [20_000_000])
    methods = {"flaky": {"class": f"{HERE}:Failing", "grid": {"fail": [fail, ""]}}}
    path = write_protocol(tmp_path, dataset=str(data), methods=methods, grid=GRID, metrics=["psnr"])
    result = CliRunner().invoke(app, ["run", str(path), "--no-progress", "--threads", "1"])
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == (2 if fail == "value" else 1), result.stderr
    error = lines[-1]
    prompt = (data / "manifest.yaml").read_text().split("prompts:\n  - ")[1].splitlines()[0]
    where = f"edit of item 's20000000' to '{prompt}' (seed 0)"
    if fail == "value":
        assert error.startswith("error: 1 of 2 edit jobs failed") and "method 'flaky' (" in error
        assert f"raised in {where}: ValueError: no such colour)" in error
    else:
        assert error.startswith("error: method 'flaky' (")
        assert error.endswith(f": {where}: the prompt names no colour")
    # the job that failed stored nothing; the other one ran ("" sorts first) and is kept
    assert len(list((tmp_path / "store" / "edits").rglob("edit.png"))) == 1
    assert not (tmp_path / "run").exists()
