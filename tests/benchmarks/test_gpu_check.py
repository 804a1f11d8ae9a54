"""benchmarks/gpu_check.py runs on a CPU in CI (``--device cpu --tiny``): every method,
dtype and lever setting fine-tunes and edits through sine_bench's own code, so the
script a GPU session will run is known to work before a GPU is at hand."""

import math

import pytest

from benchmarks import gpu_check


def test_gpu_check_runs_every_configuration_on_cpu(capsys):
    rows = gpu_check.main(
        [
            "--device",
            "cpu",
            "--tiny",
            "--threads",
            "1",
            "--finetune-steps",
            "1",
            "--edit-steps",
            "2",
            "--multi-images",
            "2",
            "--repeats",
            "1",
        ]
    )
    multi = [r["multi_image"] for r in rows if "multi_image" in r]
    rows = [r for r in rows if "multi_image" not in r]
    seen = {(r["method"], r["dtype"], r["levers"]) for r in rows}
    assert len(rows) == len(seen) == 12  # 2 methods x 3 dtypes x with/without levers
    assert len(multi) == 6  # lora and full fine-tunes per dtype
    for row in multi:
        assert "error" not in row, row
        assert row["per_image"]["evaluations"] == row["together"]["evaluations"]
        assert row["together"]["calls"] < row["per_image"]["calls"]
    for row in rows:
        assert "error" not in row, row
        assert math.isfinite(row["finetune"]["per_step"]) and row["edit"]["peak_gib"] > 0
        expected = "adamw-8bit" if row["levers"] and gpu_check_8bit() else "adamw"
        assert row["optimizer"] == expected
    printed = capsys.readouterr().out
    assert printed.count("fine-tune") == 12 and "float16" in printed
    assert printed.count("multi-image") == 6


def gpu_check_8bit() -> bool:
    from sine_bench.sine.memory import missing_optimizer_library

    return missing_optimizer_library("adamw-8bit") is None


def test_gpu_check_rejects_a_missing_device_and_unknown_names():
    with pytest.raises(SystemExit):
        gpu_check.main(["--device", "cpu", "--tiny", "--dtypes", "float64"])
    if not __import__("torch").cuda.is_available():
        with pytest.raises(SystemExit):
            gpu_check.main(["--device", "cuda"])
