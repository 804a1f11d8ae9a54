"""The validation pass `plan` and `run` share: what a run would reject late, `plan`
rejects, and `run` rejects before its first training step (nothing stored)."""

from __future__ import annotations

import errno
import json
import struct
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from tests.helpers import ROOT, write_protocol

runner = CliRunner()


def _one_line_error(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def _items(*prompts: str, image: Path | None = None, **extra) -> dict:
    image = image or ROOT / "datasets" / "toy-smoke" / "blue-circle.png"
    item = {"id": "a", "image": str(image), "class_word": "circle", "prompts": list(prompts)}
    return {"items": [item | extra]}


def _huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (its data is one empty row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )
    return path


def _late_cases(tmp_path: Path) -> list[tuple[dict, str]]:
    """Inputs that `plan` used to accept and `run` rejected late (or never)."""
    truncated = tmp_path / "truncated.png"
    good = (ROOT / "datasets" / "toy-smoke" / "blue-circle.png").read_bytes()
    truncated.write_bytes(good[: len(good) // 2])
    return [
        ({"grid": {"resolution": ["0x64"]}}, "(positive sides)"),
        ({"grid": {"seeds": [2**64]}}, "grid.seeds.0"),
        ({"edit": {"seed": -1}}, "edit.seed"),
        ({"finetune": {"patch_grid": 2000}}, "finetune.patch_grid: 2000 latent cells"),
        ({"scoring": {"size": "8x8"}, "metrics": ["ssim"]}, "metric 'ssim' needs at least 11 px"),
        ({"dataset": _items("a red circle", id="../x")}, "item id '../x'"),
        ({"dataset": _items(" ")}, "prompt 0 is empty or only whitespace"),
        ({"dataset": _items("")}, "prompt 0 is empty or only whitespace"),
        ({"dataset": _items("p", image=_huge_png(tmp_path / "big.png", 30000, 30000))}, "pixels"),
        ({"dataset": _items("p", image=truncated)}, "image file is unreadable"),
        ({"store": str(tmp_path / "run" / ".store")}, "is inside output"),
        ({"output": str(tmp_path / "protocol.yaml" / "run")}, "which is a file"),
        ({"edit": {"guidance": 1e300}}, "edit.guidance"),
        ({"grid": {"edit": {"steps": [3, "3"]}}}, "lists the value 3 twice"),
    ]


@pytest.mark.parametrize("case", range(14))
@pytest.mark.parametrize("command", ["plan", "run"])
def test_what_a_run_rejects_plan_rejects_and_run_before_training(tmp_path, case, command):
    overrides, needle = _late_cases(tmp_path)[case]
    path = write_protocol(tmp_path, **overrides)
    option = "--no-cells" if command == "plan" else "--no-progress"
    result = runner.invoke(app, [command, str(path), option])
    assert result.exit_code == 2, result.output
    assert needle in _one_line_error(result)
    assert not (tmp_path / "store").exists() and not (tmp_path / "run").exists()


def test_a_backbone_that_cannot_load_is_named_by_plan_and_rejected_by_run(tmp_path):
    """plan stays offline (no network loads); run loads every backbone before compute."""
    from sine_bench.metrics.backbones import register_backbone

    def broken():
        raise ModuleNotFoundError("No module named 'nothing'")

    register_backbone("clip", "test-missing-plan", broken)
    path = write_protocol(tmp_path, metrics=["psnr", "clip_t[test-missing-plan]"])
    plan = runner.invoke(app, ["plan", str(path), "--no-cells"])
    assert plan.exit_code == 0
    assert "backbones:   clip_t[test-missing-plan] (loaded when run starts" in plan.output
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2
    assert "clip_t[test-missing-plan]" in _one_line_error(result)
    assert not (tmp_path / "store").exists()


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has a CUDA device"
)
def test_a_device_this_machine_lacks_is_rejected_up_front(tmp_path):
    path = write_protocol(tmp_path, model={"name": "tiny-random", "device": "cuda"})
    for command in (["plan", str(path), "--no-cells"], ["run", str(path), "--no-progress"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        assert "model.device: 'cuda' is not available here" in _one_line_error(result)
    assert not (tmp_path / "store").exists()


def test_a_memory_lever_that_cannot_run_here_is_rejected_up_front(tmp_path, monkeypatch):
    from sine_bench.sine import memory

    monkeypatch.setattr(
        memory,
        "missing_optimizer_library",
        lambda name: name == "adamw-8bit" and f"{name} needs x" or None,
    )
    path = write_protocol(tmp_path, finetune={"optimizer": "adamw-8bit"})
    result = runner.invoke(app, ["plan", str(path), "--no-cells"])
    assert result.exit_code == 2
    assert "finetune.optimizer: adamw-8bit needs x" in _one_line_error(result)
    path = write_protocol(tmp_path, model={"dtype": "float16"}, finetune={"step_in_backward": True})
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2
    assert "finetune.step_in_backward: not with model.dtype float16" in _one_line_error(result)
    assert not (tmp_path / "store").exists()


# ----------------------------------------------------------------- locations


def test_an_unwritable_output_is_exit_1_before_compute(tmp_path, monkeypatch):
    """A read-only output folder used to fail with a traceback after all the computing.
    (Simulated here with EROFS from the temp-file call every write goes through; the
    real thing is in test_faults.py.)"""
    import tempfile

    from sine_bench import fileio

    parent = tmp_path / "outputs"
    parent.mkdir()
    real = tempfile.mkstemp

    def read_only_outputs(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == parent:
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only_outputs)
    path = write_protocol(tmp_path, output=str(parent / "run"))
    for command in (["plan", str(path), "--no-cells"], ["run", str(path), "--no-progress"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        line = _one_line_error(result)
        assert line.startswith(f"error: output '{parent}': not writable: Read-only file system")
        assert "rerun" in line
    assert not (tmp_path / "store").exists()


def test_too_little_free_space_is_exit_1_before_compute(tmp_path, monkeypatch):
    from sine_bench.runner import validate

    monkeypatch.setattr(validate, "_free_bytes", lambda folder: 5 << 20)
    path = write_protocol(tmp_path)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 1, result.output
    line = _one_line_error(result)
    assert "5 MiB free, this run needs about 64 MiB" in line and "free some space" in line
    assert not (tmp_path / "store").exists()
    monkeypatch.setattr(validate, "_free_bytes", lambda folder: (64 << 20) + 1024)
    plan = runner.invoke(app, ["plan", str(path), "--no-cells"])
    assert plan.exit_code == 0, plan.output
    assert "warning: store " in plan.output and "it may run out" in plan.output


# ----------------------------------------------------------------- prompts


def _plan_warnings(path: Path) -> list[str]:
    """The warning lines of a successful ``plan``."""
    plan = runner.invoke(app, ["plan", str(path), "--no-cells"])
    assert plan.exit_code == 0, plan.output
    return [line for line in plan.output.splitlines() if line.startswith("warning: ")]


def test_a_prompt_longer_than_the_text_encoder_reads_is_a_recorded_warning(tmp_path):
    """A 300-word prompt used to be cut at 77 tokens without a word anywhere."""
    from sine_bench.runner.run import run_protocol

    long_prompt = " ".join(["a large red circle on a white background"] * 40)
    path = write_protocol(
        tmp_path,
        dataset=_items("a red circle", long_prompt),
        finetune={"steps": 1},
        edit={"steps": 2},
        grid={"v": [0.5], "K": [400], "resolution": ["64x64"], "seeds": [0]},
        metrics=["psnr"],
    )
    warnings = _plan_warnings(path)
    assert len(warnings) == 1
    assert "item 'a' prompt 1: 322 tokens, the text encoder reads 77" in warnings[0]

    logged = []
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None, warn=logged.append)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["warnings"] == logged == [warnings[0].removeprefix("warning: ")]
    report = (out / "report.html").read_text()
    assert "Warnings (1)" in report and "322 tokens" in report


# ----------------------------------------------------------------- extending the pass


def test_the_pass_is_a_list_of_checks_each_raising_one_error(tmp_path):
    from sine_bench.protocol.fields import ProtocolError
    from sine_bench.runner.validate import CHECKS, WEIGHT_CHECKS, validate

    names = [check.__name__ for check in CHECKS]
    assert {"check_prompts", "check_output", "check_store", "check_device"} <= set(names)
    assert [check.__name__ for check in WEIGHT_CHECKS] == ["check_backbones"]

    def no_circles(plan):
        if any(i.spec.class_word == "circle" for i in plan.items.values()):
            raise ProtocolError("dataset: no circles here (pick another dataset)")
        return ["checked"]

    path = write_protocol(tmp_path)
    assert validate(path, checks=[lambda plan: ["fine"]]).warnings == ["fine"]
    with pytest.raises(ProtocolError, match="no circles"):
        validate(path, checks=[*CHECKS, no_circles])


@pytest.mark.parametrize("path", sorted((ROOT / "protocols").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_toy_protocol_passes_the_input_checks(path, monkeypatch):
    """Shipped protocols on the built-in models: no errors and no warnings (prompts fit
    the text encoder, images are big enough for their metrics)."""
    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner import validate as checks

    protocol = load_protocol(path)
    if protocol.model.name not in ("toy", "tiny-random"):
        pytest.skip("a hub model with the user's own photos")
    monkeypatch.chdir(ROOT)  # dataset names resolve under datasets/
    inputs = [checks.check_derived_values, checks.check_prompts]  # build_plan: image sizes
    assert checks.validate(protocol, checks=inputs).warnings == []


def test_a_full_disk_while_writing_the_run_directory_keeps_the_store(tmp_path, monkeypatch):
    """After all the computing: one line naming the run directory, nothing half-written,
    and the rerun finds every fine-tune, edit and score in the store."""
    from sine_bench.report import tables

    path = write_protocol(
        tmp_path, finetune={"steps": 1}, edit={"steps": 2}, grid={"K": [400], "v": [0.5]}
    )
    real = tables.write_tables

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.parquet"))

    monkeypatch.setattr(tables, "write_tables", disk_full)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    line = errors[0]
    assert line.startswith(f"error: run directory {tmp_path / 'run'}: No space left on device")
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run.tmp-*"))
    monkeypatch.setattr(tables, "write_tables", real)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["all_cached"]


def test_long_texts_of_other_methods_are_warned_about_too(tmp_path):
    """ddim-inversion feeds the item's source description to the text encoder (and
    dreambooth a rewritten prompt): a long one is cut at 77 tokens like a prompt."""
    long_source = " ".join(["a large blue circle on a red background"] * 20)
    path = write_protocol(
        tmp_path,
        dataset=_items("a large blue circle on a green background", source=long_source),
        methods={"ddim-inversion": {}, "dreambooth": {}},
        grid={"v": None, "K": None, "resolution": ["64x64"], "seeds": [0]},
        metrics=["psnr"],
    )
    warnings = _plan_warnings(path)
    assert len(warnings) == 1
    assert "item 'a' source description: 162 tokens, the text encoder reads 77" in warnings[0]
