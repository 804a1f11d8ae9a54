"""Method names and knobs: every one a protocol can name is checked up front, with a
one-line error that suggests the closest valid name."""

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.methods import MethodError, check_knob, get_method, method_names
from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.loading import load_protocol
from tests.helpers import write_protocol


def test_the_registry_holds_every_method_with_a_summary_and_knobs():
    shipped = ["sine", "pretrained", "dreambooth", "sdedit", "ddim-inversion", "imagic"]
    shipped += ["diffusers-pipeline"]
    assert method_names()[: len(shipped)] == shipped  # then installed plug-ins, if any
    for name in shipped:
        method = get_method(name)
        assert method.name == name and method.summary() and method.trains
    assert [k.name for k in get_method("sine").knobs] == ["v", "K"]
    assert get_method("sdedit").column("strength") == "sdedit.strength"
    assert get_method("sine").column("K") == "K"


def test_unknown_method_and_knob_suggest_the_closest_name():
    with pytest.raises(MethodError, match="did you mean 'sdedit'"):
        get_method("sd-edit")
    with pytest.raises(MethodError, match="did you mean 'strength'"):
        check_knob(get_method("sdedit"), "strenght", 0.5)
    with pytest.raises(MethodError, match=r"must be in \[0.0, 1.0\]"):
        check_knob(get_method("sdedit"), "strength", 1.5)
    with pytest.raises(MethodError, match="takes a int"):
        check_knob(get_method("ddim-inversion"), "null_text_steps", 2.5)
    assert check_knob(get_method("ddim-inversion"), "null_text_steps", 3.0) == 3


@pytest.mark.parametrize(
    ("methods", "grid", "message"),
    [
        ({"sdedt": {}}, {}, "methods: unknown method 'sdedt' (did you mean 'sdedit'?)"),
        (
            {"sdedit": {"grid": {"strenght": [0.5]}}},
            {},
            "methods: method 'sdedit' has no knob or edit field 'strenght' "
            "(did you mean 'strength'?)",
        ),
        (
            {"sdedit": {"grid": {"strength": [0.5, 2.0]}}},
            {},
            "methods: sdedit.grid: method 'sdedit': knob 'strength' must be in [0.0, 1.0], got 2.0",
        ),
        (
            {"sdedit": {"grid": {"strength": []}}},
            {},
            "sdedit.grid.strength: needs at least one value (give some, or drop it)",
        ),
        (
            {"sdedit": {"grid": {"strength": [0.5, 0.5]}}},
            {},
            "sdedit.grid.strength: lists the value 0.5 twice (remove the repeat)",
        ),
        # the same value once an integer, once a float: still a repeat
        ({"sdedit": {"grid": {"guidance": [5, 5.0]}}}, {}, "lists the value 5.0 twice"),
        ({"sdedit": {"grid": {"strength": 0.5}}}, {}, "sdedit.grid.strength: Input should be"),
        ({"sdedit": {"grid": {"strength": [True]}}}, {}, "knob 'strength' takes a float"),
        (["sdedit", "sdedit"], {}, "methods: lists the method 'sdedit' twice"),
        (
            {"imagic": {"knobs": {"eta": 0.5}, "grid": {"eta": [0.2]}}},
            {},
            "imagic.grid.eta: also fixed as imagic.knobs.eta (give it once: fixed or swept)",
        ),
        (
            {"sdedit": {"edit": {"guidance": 2.0}}},
            {"edit": {"guidance": [3.0, 5.0]}},
            "grid.edit.guidance: sweeps what methods.sdedit.edit.guidance fixes",
        ),
        (
            {"sine": {"knobs": {"v": 0.2}}},
            {"v": [0.3, 0.5]},
            "grid.v: sweeps what methods.sine.knobs.v fixes",
        ),
        (
            {"sdedit": {"edit": {"seed": 3}}},
            {"seeds": [0, 1]},
            "grid.seeds: sweeps what methods.sdedit.edit.seed fixes",
        ),
        ({"imagic": {"knobs": {"etta": 0.5}}}, {}, "has no knob 'etta' (did you mean 'eta'?)"),
        (
            {"sdedit": {"knbs": {"strength": 0.5}}},
            {},
            "unknown field 'methods.sdedit.knbs' (did you mean 'knobs'?)",
        ),
        ({"sdedit": {"finetune": {"steps": 5}}}, {}, "does not use SINE's fine-tune"),
        ({"sine": {"edit": {"v": 0.5}}}, {}, "it is a knob: give it under 'knobs'"),
        ({"sdedit": {}}, {"v": [0.5]}, "grid.v: v is a knob of 'sine', which 'methods'"),
        ({"sine": {"grid": {"v": [0.5]}}}, {"v": [0.4]}, "v is swept twice"),
        ({"sdedit": {}}, {"finetune": {"steps": [1]}}, "no listed method uses SINE's fine-tune"),
        ({}, {}, "methods: lists no method"),
    ],
)
def test_bad_method_sections_are_one_line_errors(tmp_path, methods, grid, message):
    grid = {"v": None, "K": None} | grid  # write_protocol's grid sweeps SINE's v and K
    path = write_protocol(tmp_path, methods=methods, grid=grid)
    with pytest.raises(ProtocolError) as err:
        load_protocol(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output


def test_a_method_that_cannot_run_an_item_fails_at_plan_time(tmp_path):
    import shutil

    import yaml

    from tests.helpers import ROOT

    data = tmp_path / "data"
    shutil.copytree(ROOT / "datasets" / "toy-smoke", data)
    manifest = yaml.safe_load((data / "manifest.yaml").read_text())
    manifest["items"][0]["source"] = ""
    (data / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    grid = {"v": None, "K": None}
    path = write_protocol(tmp_path, dataset=str(data), methods={"ddim-inversion": {}}, grid=grid)
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 2, result.output
    assert "ddim-inversion: item 'blue-circle' has no 'source' description" in result.output
