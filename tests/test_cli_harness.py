"""`sine-bench run` on bad input: one line naming the field or file, exit 2, and no
output directory (nothing half-written)."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from tests.helpers import ROOT, write_protocol

runner = CliRunner()


def _items(image, **extra):
    item = {"id": "a", "image": str(image), "class_word": "disc", "prompts": ["a red disc"]}
    return {"items": [item | extra]}


def _bad_cases(tmp_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"definitely not a png")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.yaml").write_text("items: []\n")
    good = ROOT / "datasets" / "toy-smoke" / "blue-circle.png"
    return [
        ({"finetune": {"stpes": 3}}, "did you mean 'steps'?"),
        ({"edit": {"steps": "ten"}}, "edit.steps"),
        ({"dataset": _items(tmp_path / "missing.png")}, "image file not found"),
        ({"dataset": _items(garbage)}, "image file is unreadable"),
        ({"dataset": _items(good, mask=str(tmp_path / "nomask.png"))}, "mask file not found"),
        ({"dataset": str(empty)}, "the dataset has no items"),
        ({"dataset": str(tmp_path / "nowhere")}, "no manifest.yaml"),
        ({"grid": {"v": [1.2]}}, "v must be in [0, 1]"),
        ({"grid": {"K": [-1]}}, "K must be in [0, 1000]"),
        ({"grid": {"resolution": ["66x64"]}}, "not a multiple of the VAE factor 4"),
        ({"grid": {"resolution": ["8192x8192"]}}, "exceeds the largest supported side"),
        ({"metrics": ["psnr", "lpipz[alex]"]}, "unknown metric 'lpipz[alex]'"),
        ({"model": {"name": "no-such-model"}}, "unknown model 'no-such-model'"),
        ({"model": {"name": str(tmp_path)}}, "no model_index.json"),
    ]


@pytest.mark.parametrize("case", range(14))
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, case):
    overrides, needle = _bad_cases(tmp_path)[case]
    path = write_protocol(tmp_path, **overrides)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert needle in lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "store").exists()


def test_plan_and_schema_commands(tmp_path):
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0 and '"properties"' in result.output
    bad = runner.invoke(app, ["plan", str(write_protocol(tmp_path, grid={"K": [5000]}))])
    assert bad.exit_code == 2 and "K must be in [0, 1000]" in bad.output


def test_new_verbs_listed_without_importing_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from sine_bench.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "print(r.output)\n"
        "assert 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    for verb in ("run", "plan", "report", "compare", "schema"):
        assert verb in out.stdout


def test_unavailable_backbone_fails_before_any_compute(tmp_path):
    from sine_bench.metrics.backbones import register_backbone

    def broken():
        raise ModuleNotFoundError("No module named 'sine_bench.toy.nothing'")

    register_backbone("clip", "test-missing", broken)
    path = write_protocol(tmp_path, metrics=["psnr", "clip_t[test-missing]"])
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "metric 'clip_t[test-missing]'" in result.output and "not available" in result.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "store").exists()


def test_refuses_to_replace_a_folder_that_is_not_a_run(tmp_path):
    precious = tmp_path / "run"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    result = runner.invoke(app, ["run", str(write_protocol(tmp_path)), "--no-progress"])
    assert result.exit_code == 2 and "is not a sine-bench run directory" in result.output
    assert (precious / "thesis.tex").read_text() == "do not delete"


def _malformed(tmp_path):
    """(protocol file bytes or None for the default, manifest bytes or None, needle)."""
    good = write_protocol(tmp_path).read_text()
    dataset = tmp_path / "ds"
    dataset.mkdir()
    image = ROOT / "datasets" / "toy-smoke" / "blue-circle.png"
    (dataset / "a.png").write_bytes(image.read_bytes())
    protocol_with_ds = good.replace(str(ROOT / "datasets" / "toy-smoke"), str(dataset))
    item = "items:\n  - {id: a, image: a.png, class_word: c, prompts: [p]}\n"
    return [
        (b"\xff\xfe\x00\x01garbage", None, "not UTF-8 text"),
        (b"include: 5\nname: x\n", None, "include: must be a file name or a list"),
        (b"include: [1]\nname: x\n", None, "include: must be a file name or a list"),
        (b"name: a\nname: b\ndataset: toy-smoke\n", None, "found the key 'name' twice"),
        ((good + "output: runs/{nam}\n").encode(), None, "found the key 'output' twice"),
        (good.replace(str(tmp_path / "run"), "runs/{nam}").encode(), None, "only use the place"),
        (b"- just\n- a list\n", None, "a protocol must be a mapping"),
        (b"name: [unclosed\n", None, "not valid YAML"),
        (protocol_with_ds.encode(), b"\x00\xff\xfe", "manifest.yaml: not UTF-8 text"),
        (protocol_with_ds.encode(), b"- a\n- b\n", "expected a mapping with 'items'"),
        (protocol_with_ds.encode(), item.encode() * 2, "found the key 'items' twice"),
        (protocol_with_ds.encode(), b"items: {a: 1}\n", "manifest.yaml: items"),
        (protocol_with_ds.encode(), b"items: [\n", "not valid YAML"),
        (protocol_with_ds.encode(), (item + "  - 5\n").encode(), "items.1"),
    ]


@pytest.mark.parametrize("case", range(14))
def test_malformed_protocol_and_manifest_files_are_one_line_exit_2(tmp_path, case):
    """Several of these used to end in a traceback (UnicodeDecodeError, TypeError...)."""
    protocol_bytes, manifest_bytes, needle = _malformed(tmp_path)[case]
    path = tmp_path / "protocol.yaml"
    path.write_bytes(protocol_bytes)
    if manifest_bytes is not None:
        (tmp_path / "ds" / "manifest.yaml").write_bytes(manifest_bytes)
    for command in (["plan", str(path)], ["run", str(path), "--no-progress"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert needle in lines[0]
    assert not (tmp_path / "store").exists()


def test_a_cluster_that_fails_is_exit_1_and_an_unknown_executor_exit_2(tmp_path):
    from sine_bench.runner.executors import EXECUTORS, ClusterError

    def unreachable(**_):
        raise ClusterError("cannot start or join Ray at auto: ConnectionError: refused")

    path = write_protocol(tmp_path)
    with EXECUTORS.registered("unreachable", unreachable):
        result = runner.invoke(app, ["run", str(path), "--executor", "unreachable"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: cannot start or join Ray at auto")
    result = runner.invoke(app, ["run", str(path), "--executor", "nope"])
    assert result.exit_code == 2 and "unknown executor 'nope'" in result.output


def _catches_sigint(pid: int) -> bool:
    """Whether the process has a SIGINT handler yet (Python installs one at start-up)."""
    import signal
    from pathlib import Path

    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    return False


@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_ctrl_c_in_the_first_second_prints_the_interrupt_line(tmp_path, delay):
    """The console script itself, interrupted while it imports and parses options."""
    import os
    import signal
    import time
    from pathlib import Path

    script = Path(sys.executable).parent / "sine-bench"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [str(script), "plan", str(write_protocol(tmp_path)), "--no-cells"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's
    )
    deadline = time.time() + 30
    while not _catches_sigint(proc.pid) and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "interrupted (SIGINT): nothing was written (rerun the same command)"
    ], stderr
