"""The command line: fast help, doctor, and the end-to-end edit job with clear errors."""

import json

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from tests.helpers import help_in_fresh_interpreter

runner = CliRunner()


def test_help_lists_verbs_without_importing_torch():
    heavy_modules = ("torch", "diffusers", "transformers")
    exit_code, output, heavy = help_in_fresh_interpreter(["--help"], heavy_modules)
    assert exit_code == 0, output
    assert not heavy, heavy
    for verb in ("doctor", "edit"):
        assert verb in output


def test_doctor_reports_versions_device_and_backends():
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for needle in ("torch", "diffusers", "cuda_available", "optional backends", "lpips"):
        assert needle in result.output


def test_edit_writes_images_and_record(tmp_path):
    import torch

    from sine_bench.images import save_png_atomic

    src = tmp_path / "src.png"
    save_png_atomic(torch.rand(3, 40, 56), src)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "edit",
            str(src),
            "--class-word",
            "disc",
            "-p",
            "a green disc",
            "-p",
            "a blue disc",
            "--model",
            "tiny-random",
            "--finetune-steps",
            "2",
            "--steps",
            "3",
            "--width",
            "96",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "edit.json").read_text())
    assert [i["prompt"] for i in record["images"]] == ["a green disc", "a blue disc"]
    from PIL import Image

    assert Image.open(out / record["images"][0]["file"]).size == (96, 64)
    assert (out / "finetune" / "unet" / "sine_position_encoding.json").exists()
    assert record["libraries"]["torch"] and record["resolved"]["grid"] == 32


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--width", "66"], "64x66"),
        (["--v", "1.5"], "v must be in [0, 1]"),
        (["--k", "2000"], "K must be in [0, 1000]"),
        (["--mode", "dreambooth"], "--mode"),
    ],
)
def test_edit_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    import torch

    from sine_bench.images import save_png_atomic

    src = tmp_path / "src.png"
    save_png_atomic(torch.rand(3, 16, 16), src)
    result = runner.invoke(
        app,
        [
            "edit",
            str(src),
            "--class-word",
            "x",
            "-p",
            "y",
            "--model",
            "tiny-random",
            "--finetune-steps",
            "1",
            "--steps",
            "2",
            "--out",
            str(tmp_path / "o"),
            *args,
        ],
    )
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not (tmp_path / "o" / "edit.json").exists()


def test_edit_missing_and_unreadable_image(tmp_path):
    result = runner.invoke(
        app,
        [
            "edit",
            str(tmp_path / "nope.png"),
            "--class-word",
            "x",
            "-p",
            "y",
            "--model",
            "tiny-random",
        ],
    )
    assert result.exit_code == 2 and "image file not found" in result.output
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    result = runner.invoke(
        app, ["edit", str(bad), "--class-word", "x", "-p", "y", "--model", "tiny-random"]
    )
    assert result.exit_code == 2 and "unreadable" in result.output


@pytest.mark.parametrize(
    "args,needle",
    [
        (["-p", " "], "--prompt: prompt 1 is empty or only whitespace"),
        (["--class-word", ""], "--class-word: is empty"),
        (["--template", "a {thing}"], "--template: prompt_template must contain"),
        (["--seed", "-1"], "--seed: Input should be greater than or equal to 0"),
        (["--guidance", "inf"], "--guidance: Input should be a finite number"),
        (["--lr", "5"], "--lr: Input should be less than or equal to 1"),
        (["--device", "gpu"], "--device: must be 'auto'"),
    ],
)
def test_edit_options_follow_the_protocol_field_rules(tmp_path, args, needle):
    """The same rules as a protocol's fields, before any model is loaded."""
    import torch

    from sine_bench.images import save_png_atomic

    src = tmp_path / "src.png"
    save_png_atomic(torch.rand(3, 16, 16), src)
    base = ["edit", str(src), "--class-word", "x", "-p", "y", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.output


def test_known_library_warnings_stay_off_stderr(caplog):
    """bitsandbytes logs an unactionable warning on import (an optional hub kernel); with
    no logging configured Python prints it, which would break the one-line contract."""
    import logging

    from sine_bench.cli.contract import QUIET_LOGGERS

    logger = logging.getLogger(QUIET_LOGGERS[0])
    before = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        assert runner.invoke(app, ["schema"]).exit_code == 0
        logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community")
        logger.error("a real error still shows")
        shown = [r.getMessage() for r in caplog.records]
        assert shown == ["a real error still shows"]
    finally:
        logger.setLevel(before)
