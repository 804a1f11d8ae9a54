"""User YAML is read strictly: a key given twice, non-UTF-8 bytes and unwritable text
are one-line errors naming the file."""

import pytest

from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.strict_yaml import read_yaml_file


def _read(tmp_path, content: bytes):
    path = tmp_path / "f.yaml"
    path.write_bytes(content)
    return read_yaml_file(path, ProtocolError)


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"a: 1\nb: 2\na: 3\n", "found the key 'a' twice (first on line 1; keep one) at line 3"),
        (b"x:\n  steps: 1\n  steps: 2\n", "found the key 'steps' twice"),
        (b"a: 1\n'a': 2\n", "found the key 'a' twice"),
        (b"\xff\xfe", "not UTF-8 text (byte 0)"),
        (b'a: "\\ud800"\n', "a: text is not valid Unicode"),
        (b"a: !!python/object:os.system {}\n", "not valid YAML"),
        (b"a: [" * 5000, "nested too deeply"),
        (b"#" * (2 << 20), "too big for a YAML settings file"),
    ],
)
def test_bad_yaml_is_one_line_naming_the_file(tmp_path, content, needle):
    with pytest.raises(ProtocolError) as err:
        _read(tmp_path, content)
    message = str(err.value)
    assert message.startswith(str(tmp_path / "f.yaml")) and "\n" not in message
    assert needle in message


def test_merge_keys_and_unique_keys_still_load(tmp_path):
    data = _read(tmp_path, b"base: &b {steps: 1, lr: 2}\nft:\n  <<: *b\n  steps: 3\n")
    assert data["ft"] == {"steps": 3, "lr": 2}


def _alias_bomb(levels: int = 10, width: int = 9) -> str:
    """Nested aliases: ``levels`` anchors, each a list of ``width`` uses of the one before
    (``width ** levels`` values once expanded) in a few hundred bytes."""
    lines = ["l0: &l0 [lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_nested_aliases_fail_fast_as_one_line(tmp_path):
    import time

    start = time.perf_counter()
    with pytest.raises(ProtocolError) as err:
        _read(tmp_path, _alias_bomb().encode())
    assert time.perf_counter() - start < 1.0
    message = str(err.value)
    assert message.startswith(str(tmp_path / "f.yaml")) and "\n" not in message
    assert "aliases expand to more than 100000 values" in message


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"a: &a [1, *a]\n", "an alias refers to a node that contains it"),
        (b"a: &a 1\nb: [" + b", ".join([b"*a"] * 1001) + b"]\n", "more than 1000 aliases"),
        (b"a: " + b"[" * 150 + b"]" * 150 + b"\n", "nested too deeply (more than 100 levels)"),
    ],
)
def test_alias_and_depth_bounds(tmp_path, content, needle):
    with pytest.raises(ProtocolError) as err:
        _read(tmp_path, content)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_few_aliases_still_load(tmp_path):
    data = _read(tmp_path, _alias_bomb(levels=3, width=3).encode())
    assert len(data["l3"]) == 3 and data["l3"][0][0][0] == ["lol", "lol"]


def _bomb_protocol(tmp_path, where: str):
    """A protocol whose protocol file, ``metrics:`` or dataset manifest is an alias bomb."""
    from tests.helpers import write_protocol

    path = write_protocol(tmp_path)
    bomb = _alias_bomb().replace("\n", "\n  ")
    if where == "protocol":
        path.write_text(path.read_text() + "x_bomb:\n  " + bomb)
    elif where == "metrics":
        text = path.read_text().replace("metrics:\n", "metrics: *l10\nx_unused:\n", 1)
        path.write_text("x_aliases:\n  " + bomb + "\n" + text)
    else:
        dataset = tmp_path / "data"
        dataset.mkdir()
        (dataset / "manifest.yaml").write_text("x:\n  " + bomb + "\nitems: *l10\n")
        text = path.read_text().splitlines()
        text = [f"dataset: {dataset}" if line.startswith("dataset:") else line for line in text]
        path.write_text("\n".join(text) + "\n")
    return path


@pytest.mark.parametrize("where", ["protocol", "metrics", "manifest"])
def test_plan_refuses_an_alias_bomb_fast(tmp_path, where):
    import time

    from typer.testing import CliRunner

    from sine_bench.cli import app
    from sine_bench.protocol.dataset import resolve_dataset
    from sine_bench.protocol.loading import load_protocol

    path = _bomb_protocol(tmp_path, where)
    start = time.perf_counter()
    with pytest.raises(ProtocolError, match="aliases expand to more than"):
        resolve_dataset(load_protocol(path), path.parent)
    assert time.perf_counter() - start < 1.0
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "aliases expand to more than" in lines[0]
    assert ("manifest.yaml" if where == "manifest" else "protocol.yaml") in lines[0]


def test_a_key_spelled_like_a_yaml_boolean_is_that_word(tmp_path):
    """A knob named `on` or `no` (grid: {on: [true, false]}) is a name; values keep
    YAML's reading, and a quoted and a plain spelling are one key."""
    data = _read(tmp_path, b"grid: {on: [true, false], no: 1, Yes: off}\n")
    assert data == {"grid": {"on": [True, False], "no": 1, "Yes": False}}
    with pytest.raises(ProtocolError, match="found the key 'on' twice"):
        _read(tmp_path, b"on: 1\n'on': 2\n")


def test_exponent_floats_without_a_dot_are_numbers(tmp_path):
    """As YAML 1.2 and JSON read them (a float knob swept as [1e-1, 2] was refused)."""
    data = _read(tmp_path, b"lr: 1e-4\ngrid: {gain: [1e-1, -2E+3, .5e1, 1.e2]}\nname: 1e5x\n")
    assert data == {"lr": 1e-4, "grid": {"gain": [0.1, -2000.0, 5.0, 100.0]}, "name": "1e5x"}
