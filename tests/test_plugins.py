"""Plug-ins from installed packages: a fake distribution (a ``*.dist-info`` with
``entry_points.txt`` on sys.path) adds a method, a metric family and a dataset format;
listing them imports nothing, each says where it comes from, and each bad plug-in is
one error naming it."""

from __future__ import annotations

import sys

import pytest

from sine_bench.cli.plugins import found_lines
from sine_bench.metrics.families import FAMILIES, MetricFamily
from sine_bench.metrics.names import MetricError
from sine_bench.metrics.registry import check_metric_name, score_identity
from sine_bench.plugins import GROUPS, class_origin
from sine_bench.protocol.fields import MethodError, ProtocolError
from sine_bench.protocol.formats import DATASET_FORMATS
from sine_bench.protocol.method_checks import METHODS

MODULE = '''
from sine_bench.metrics.families import MetricFamily

class Editor:
    """Returns the source as it is."""
    knobs = {"strength": 0.5}
    def edit(self, source, source_prompt, target_prompt, seed, **knobs):
        return source

class NoKnobs:
    def edit(self, source, source_prompt, target_prompt, seed):
        return source

class Format:
    marker = "fake.txt"
    def recognises(self, folder):
        return (folder / self.marker).is_file()
    def read(self, request):
        raise NotImplementedError

FAMILY = MetricFamily("fake_metric", "fakeplug_scorer:score", 0, 1, "higher", "fidelity")
WRONG = MetricFamily("other_name", "fakeplug_scorer:score", 0, 1, "higher", "fidelity")
NO_SCORER = MetricFamily("no_scorer", "fakeplug_broken:score", 0, 1, "higher", "fidelity")
EXPLODES = MetricFamily("explodes", "fakeplug_scorer:explode", 0, 1, "higher", "fidelity")
'''

ENTRY_POINTS = """
[sine_bench.methods]
fake-editor = fakeplug_mod:Editor
sine = fakeplug_mod:Editor
fake-noknobs = fakeplug_mod:NoKnobs
fake-missing = fakeplug_mod:Nothing
fake-broken = fakeplug_broken:Editor

[sine_bench.metrics]
fake_metric = fakeplug_mod:FAMILY
other_metric = fakeplug_mod:WRONG
no_scorer = fakeplug_mod:NO_SCORER
explodes = fakeplug_mod:EXPLODES

[sine_bench.datasets]
fake-format = fakeplug_mod:Format
bad-format = fakeplug_mod:Editor
"""


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """``fakeplug`` 1.2, installed (its dist-info and modules on sys.path), scanned afresh
    by the three registries for the test only."""
    info = tmp_path / "fakeplug-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (tmp_path / "fakeplug_mod.py").write_text(MODULE)
    scorer = "def score(name, inputs):\n    return 0.5\n\n"
    scorer += "def explode(name, inputs):\n    raise ValueError('bad input shape')\n"
    (tmp_path / "fakeplug_scorer.py").write_text(scorer)
    (tmp_path / "fakeplug_broken.py").write_text("raise RuntimeError('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("fakeplug_mod", "fakeplug_scorer", "fakeplug_broken"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    with METHODS.rescanned(), FAMILIES.rescanned(), DATASET_FORMATS.rescanned():
        yield tmp_path


def test_the_groups_are_named_for_what_they_add():
    assert GROUPS == {
        "method": "sine_bench.methods",
        "metric family": "sine_bench.metrics",
        "dataset format": "sine_bench.datasets",
    }


def test_installed_plugins_are_listed_with_their_distribution_without_importing(
    fake_distribution,
):
    assert "fake-editor" in METHODS.names() and "fake_metric" in FAMILIES.names()
    assert "fake-format" in DATASET_FORMATS.names()
    lines = "\n".join(found_lines())
    assert "fake-editor" in lines and "fakeplug 1.2 (fakeplug_mod:Editor)" in lines
    assert "fake_metric" in lines and "fake-format" in lines
    # a plug-in never replaces what ships: listed as ignored, 'sine' is still SINE's
    assert "IGNORED: the name is taken" in lines and METHODS.origin("sine") is None
    assert "fakeplug_mod" not in sys.modules  # listing read metadata only


def test_an_installed_plugin_loads_with_its_distribution_as_identity(fake_distribution):
    method = METHODS.get("fake-editor")
    assert method.name == "fake-editor" and method.knob("strength").default == 0.5
    assert method.plugin == {"distribution": "fakeplug", "version": "1.2"}
    assert method.summary() == "Returns the source as it is."
    family = FAMILIES.get("fake_metric")
    assert isinstance(family, MetricFamily)
    # the metric's code identity enters its score keys; a shipped metric's never does
    identity = score_identity(check_metric_name("fake_metric"))
    assert identity["plugin"] == {"distribution": "fakeplug", "version": "1.2"}
    assert "plugin" not in score_identity(check_metric_name("psnr"))
    assert DATASET_FORMATS.get("fake-format").marker == "fake.txt"
    # role lists hold the plug-ins that load; a broken one fails only where it is named
    from sine_bench.metrics.families import families_with

    fidelity = families_with("fidelity")
    assert "fake_metric" in fidelity and "other_metric" not in fidelity


@pytest.mark.parametrize(
    "name, message",
    [
        ("fake-broken", r"cannot import fakeplug_broken \(RuntimeError: no GPU here\)"),
        ("fake-missing", r"fakeplug_mod has no 'Nothing'"),
        ("fake-noknobs", r"has no 'knobs' class attribute"),
    ],
)
def test_a_bad_method_plugin_is_one_error_naming_it(fake_distribution, name, message):
    with pytest.raises(MethodError, match=message) as err:
        METHODS.get(name)
    text = str(err.value)
    assert text.startswith(f"method {name!r} (plug-in fakeplug 1.2") and "\n" not in text


def test_a_bad_metric_or_format_plugin_is_one_error_naming_it(fake_distribution):
    with pytest.raises(MetricError, match=r"metric family 'other_metric' \(plug-in fakeplug"):
        FAMILIES.get("other_metric")
    with pytest.raises(ProtocolError, match=r"dataset format 'bad-format' .* lacks marker"):
        DATASET_FORMATS.get("bad-format")


def test_a_format_plugin_whose_read_raises_is_one_line_naming_it(fake_distribution):
    """Named by a protocol or found by its marker, before anything is computed."""
    from sine_bench.protocol.dataset import read_dataset
    from sine_bench.protocol.loading import parse_protocol
    from tests.helpers import ROOT

    TOY_SMOKE = ROOT / "datasets" / "toy-smoke"
    folder = fake_distribution / "data"
    folder.mkdir()
    (folder / "fake.txt").write_text("x")
    store = str(fake_distribution / "store")
    for spec in ({"path": str(folder), "format": "fake-format"}, str(folder)):
        protocol = parse_protocol({"name": "x", "dataset": spec, "store": store})
        with pytest.raises(ProtocolError) as err:
            read_dataset(protocol)
        assert str(err.value).startswith("dataset format 'fake-format' (plug-in fakeplug 1.2")
        assert str(err.value).endswith("read raised NotImplementedError: ")
    # an installed format that does not load ('bad-format') fails only where named
    toy = parse_protocol({"name": "x", "dataset": str(TOY_SMOKE), "store": store})
    assert [item.spec.id for item in read_dataset(toy).items] == ["blue-circle", "green-diamond"]


def test_a_metric_plugin_whose_scorer_fails_to_load_or_raises_is_one_line(fake_distribution):
    from sine_bench.runner.scoring import MetricFailed, _scored

    with pytest.raises(MetricError, match=r"metric 'no_scorer' \(plug-in fakeplug 1.2 .*\): "):
        check_metric_name("no_scorer")  # as a protocol's metrics are checked: before compute
    with pytest.raises(MetricFailed, match=r"metric 'explodes' .* raised: ValueError: bad input"):
        _scored(check_metric_name("explodes"), None)
    assert _scored(check_metric_name("fake_metric"), None) == 0.5


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "returned NoneType, not a number"),
        ("0.5", "returned str, not a number"),
        ([0.1, 0.2], "returned list, not a number"),
        (1.5, r"returned 1.5, outside its declared range \[0, 1\]"),
        (-0.01, "outside its declared range"),
    ],
)
def test_a_metric_plugin_returning_no_number_in_its_range_fails_its_job(value, message):
    from sine_bench.runner.scoring import MetricFailed, _checked_value

    family = MetricFamily("m", "x:y", 0, 1, "higher", "fidelity")
    with pytest.raises(MetricFailed, match=f"metric 'm' .*{message}"):
        _checked_value("metric 'm' (plug-in p)", family, value)


def test_a_metric_plugin_value_may_be_nan_a_numpy_scalar_or_a_hair_past_a_bound():
    import math

    import numpy as np

    from sine_bench.runner.scoring import _checked_value

    family = MetricFamily("m", "x:y", 0, 1, "higher", "fidelity")
    assert math.isnan(_checked_value("m", family, float("nan")))
    assert _checked_value("m", family, np.float32(0.5)) == 0.5
    assert _checked_value("m", family, 1 + 1e-9) == 1 + 1e-9


def test_a_class_named_by_a_protocol_is_keyed_on_its_source_file(tmp_path, monkeypatch):
    (tmp_path / "loose_editor.py").write_text("class E:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    origin = class_origin("loose_editor:E")
    assert origin.distribution is None and str(tmp_path / "loose_editor.py") in origin.where()
    before = origin.identity()
    (tmp_path / "loose_editor.py").write_text("class E:\n    x = 1\n")
    assert origin.identity() != before and set(before) == {"module", "source"}


def test_no_plugin_installed_says_so(monkeypatch):
    from sine_bench import registry

    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    with METHODS.rescanned(), FAMILIES.rescanned(), DATASET_FORMATS.rescanned():
        assert found_lines()[1:] == ["  none installed"]


def test_doctor_lists_plugins(fake_distribution, monkeypatch):
    from typer.testing import CliRunner

    from sine_bench import environment
    from sine_bench.cli import app

    for slow in ("library_versions", "device_description", "backend_status"):
        monkeypatch.setattr(environment, slow, dict)  # imports torch, ray, ...: not tested here

    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0
    assert "plug-ins (entry-point groups sine_bench.methods" in result.output
    assert "fakeplug 1.2 (fakeplug_mod:Editor)" in result.output


def test_listing_plugins_imports_neither_them_nor_torch(fake_distribution):
    """In a fresh interpreter (nothing imported before): the names and ``doctor``'s
    plug-in lines come from metadata alone."""
    import os
    import subprocess

    code = (
        "import sys\n"
        "from sine_bench.cli.plugins import found_lines\n"
        "from sine_bench.protocol.method_checks import METHODS\n"
        "lines = found_lines()\n"
        "assert 'fake-editor' in METHODS.names(), lines\n"
        "heavy = [m for m in ('torch', 'diffusers', 'fakeplug_mod') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    path = os.pathsep.join([str(fake_distribution), *sys.path])
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": path},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
