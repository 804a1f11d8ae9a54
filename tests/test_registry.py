"""The one registry type: lazy entries, did-you-mean errors, temporary and discovered
entries (plug-ins), on synthetic entries."""

import sys
import types
from importlib.metadata import EntryPoint

import pytest

from sine_bench import registry as registry_module
from sine_bench.registry import Registry, suggest


class Unknown(ValueError):
    pass


@pytest.fixture
def fake_module(monkeypatch):
    """A module ``fake_entries`` that string entries name."""
    module = types.ModuleType("fake_entries")
    module.Thing = type("Thing", (), {})
    monkeypatch.setitem(sys.modules, "fake_entries", module)
    return module


def test_suggest_names_the_closest_option_or_lists_them():
    assert suggest("sdedt", ["sine", "sdedit"]) == "did you mean 'sdedit'?"
    assert suggest("zzz", ["sine", "sdedit"]) == "known: sine, sdedit"
    assert suggest("zzz", []) == "none is known"


def test_unknown_name_raises_the_callers_error_with_a_suggestion():
    reg = Registry("widget", Unknown, {"round": 1, "square": 2})
    with pytest.raises(Unknown, match=r"^unknown widget 'sqare' \(did you mean 'square'\?\)$"):
        reg.get("sqare")
    with pytest.raises(Unknown, match="known: round, square"):
        reg.check("hexagon")
    assert reg.names() == ["round", "square"] and "round" in reg and "oval" not in reg


def test_string_entries_load_on_first_get_and_build_once(fake_module):
    built = []
    reg = Registry(
        "thing",
        Unknown,
        {"t": "fake_entries:Thing"},
        build=lambda name, cls: built.append(1) or cls(),
    )
    assert built == []  # registering imports nothing
    first = reg.get("t")
    assert isinstance(first, fake_module.Thing) and reg.get("t") is first and built == [1]
    reg.register("t", "fake_entries:Thing")  # replacing drops the loaded entry
    assert reg.get("t") is not first


def test_a_missing_attribute_is_the_callers_error(fake_module):
    reg = Registry("thing", Unknown, {"t": "fake_entries:Nope"})
    with pytest.raises(Unknown, match="thing 't': fake_entries has no 'Nope'"):
        reg.get("t")


def test_registered_holds_only_inside_the_block():
    reg = Registry("widget", Unknown, {"round": 1})
    with reg.registered("round", 5), reg.registered("oval", 3):
        assert reg.get("round") == 5 and reg.get("oval") == 3
    assert reg.names() == ["round"] and reg.get("round") == 1


def test_discover_adds_entry_points_but_never_replaces_a_shipped_name(fake_module, monkeypatch):
    points = [
        EntryPoint("thing", "fake_entries:Thing", "sine_bench.test"),
        EntryPoint("round", "fake_entries:Thing", "sine_bench.test"),
    ]
    seen_groups = []

    def entry_points(group):
        seen_groups.append(group)
        return points

    monkeypatch.setattr(registry_module, "entry_points", entry_points)
    reg = Registry("widget", Unknown, {"round": 1})
    assert reg.discover("sine_bench.test") == ["thing"] and seen_groups == ["sine_bench.test"]
    assert reg.get("thing") is fake_module.Thing and reg.get("round") == 1
