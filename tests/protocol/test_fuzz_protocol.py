"""Property: whatever a protocol or manifest file holds, `sine-bench plan` exits 0 or 2
with one `error:` line, never a traceback.

Hypothesis mutates a valid protocol and a valid dataset manifest: deleted fields,
values of the wrong type, random text and bytes, huge and negative numbers, unicode,
unknown keys, keys given twice, truncated and byte-damaged files. `plan` runs
in-process (typer's CliRunner), so 60 examples per file take a few seconds;
``derandomize`` makes CI see the same examples on every run.
"""

from __future__ import annotations

import copy
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sine_bench.cli import app
from tests.helpers import ROOT

EXAMPLES = 60  # per test; ~0.1 s each on a busy 2-core machine

SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

VALID_PROTOCOL = {
    "name": "fuzz",
    "model": {"name": "tiny-random", "dtype": "float32", "seed": 0},
    "dataset": "data",  # relative to the working directory: a copy of toy-smoke
    "finetune": {"method": "sine-patch", "steps": 2, "lr": 1e-4, "patch_grid": 0},
    "edit": {"steps": 4, "guidance": 5.0, "v": 0.7, "K": 400, "resolution": "native"},
    "grid": {
        "v": [0.5, 1.0],
        "K": [400, 800],
        "resolution": ["native", "64x96"],
        "seeds": [0],
        "edit": {"guidance": [5.0, 7.5]},
        "finetune": {"steps": [2]},
    },
    "metrics": ["psnr", "ssim", "psnr_masked"],
    "scoring": {"size": "source", "resample": "bicubic"},
    "output": "runs/{name}",
    "store": "runs/.store",
    "regression": {"default": {"abs": 0.001, "rel": 0.01}, "tolerances": {"psnr": {"abs": 0.05}}},
}
VALID_MANIFEST = yaml.safe_load((ROOT / "datasets" / "toy-smoke" / "manifest.yaml").read_text())

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=12),
    st.sampled_from(["", " ", "\t", "0x64", "64x0", "-8x64", "99999x64", "native", "{x}"]),
    st.sampled_from(["a" * 400, "../../etc", "/", "\x00", "ü" * 3, "🙂", "1e400", "toy"]),
    st.lists(st.integers(min_value=-5, max_value=2000), max_size=3),
    st.lists(st.text(max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


def _paths(node, prefix=()):
    """Every location in a nested dict/list, as a tuple of keys and indices."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _set(data, path, op, value):
    if not path:
        return value if op == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "replace":
        parent[last] = value
    elif op == "add" and isinstance(parent, dict):
        parent[f"{last}_{str(value)[:8]}"] = value
    elif op == "add":
        parent.append(value)
    return data


@st.composite
def mutated_yaml(draw, valid: dict) -> bytes:
    """``valid`` with one to three structural mutations, then maybe damage to the text."""
    data = copy.deepcopy(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        locations = list(_paths(data))
        path = draw(st.sampled_from(locations))
        op = draw(st.sampled_from(["delete", "replace", "replace", "add"]))
        if op == "delete" and not path:
            continue
        data = _set(data, path, op, draw(values))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()))
    lines = text.splitlines(keepends=True)
    damage = draw(st.sampled_from(["none", "none", "duplicate-line", "bytes", "truncate"]))
    if damage == "duplicate-line" and lines:
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines.insert(index, lines[index])  # a key given twice (or a repeated list item)
    raw = "".join(lines).encode()
    if damage == "bytes":
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    elif damage == "truncate":
        raw = raw[: draw(st.integers(min_value=0, max_value=len(raw)))]
    return raw


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A working directory with a copy of the toy-smoke dataset under data/."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "datasets" / "toy-smoke", root / "data")
    (root / "protocol.yaml").write_text(yaml.safe_dump(VALID_PROTOCOL, sort_keys=False))
    return root


@contextmanager
def _cwd(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _plan(workdir: Path) -> None:
    """`plan` exits 0, or 2 with exactly one `error:` line; never a traceback."""
    with _cwd(workdir):
        result = CliRunner().invoke(app, ["plan", "protocol.yaml", "--no-cells"])
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), (
        f"{type(exc).__name__}: {exc}\n{result.output}"
    )
    assert result.exit_code in (0, 2), result.output
    last = (result.output.splitlines() or [""])[-1].replace(str(workdir), "")
    event(f"exit {result.exit_code}: {last[:70]}")  # --hypothesis-show-statistics
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.output


def test_the_valid_files_plan(workdir):
    with _cwd(workdir):
        result = CliRunner().invoke(app, ["plan", "protocol.yaml", "--no-cells"])
    assert result.exit_code == 0, result.output


@SETTINGS
@given(raw=mutated_yaml(VALID_PROTOCOL))
def test_any_protocol_file_plans_or_is_one_line_exit_2(workdir, raw):
    (workdir / "protocol.yaml").write_bytes(raw)
    (workdir / "data" / "manifest.yaml").write_text(yaml.safe_dump(VALID_MANIFEST))
    _plan(workdir)


@SETTINGS
@given(raw=mutated_yaml(VALID_MANIFEST))
def test_any_manifest_plans_or_is_one_line_exit_2(workdir, raw):
    (workdir / "protocol.yaml").write_text(yaml.safe_dump(VALID_PROTOCOL, sort_keys=False))
    (workdir / "data" / "manifest.yaml").write_bytes(raw)
    _plan(workdir)
