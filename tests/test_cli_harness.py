"""`sine-bench run` on bad input: one line naming the field or file, exit 2, and no
output directory (nothing half-written)."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from tests.conftest import ROOT, write_protocol

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
    from sine_bench.metrics.registry import register_backbone

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
