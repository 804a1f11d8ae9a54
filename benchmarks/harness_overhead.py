"""Harness overhead: a grid's edit-stage wall time / (its UNet calls x their measured cost).

    python benchmarks/harness_overhead.py [--steps 50] [--device cpu]

After a warm-up run, runs a small toy protocol (toy-smoke's scenes, a K sweep x 2 seeds,
v = 0.7) in a temporary store, reads the evaluations it performed from the run's
manifest, and times the two kinds of UNet call it makes (a batch-2 pretrained call, a
batch-1 fine-tuned call; median of 40) in the same process. Everything else in the edit
stage (loading fine-tunes, DDIM updates, decoding, PNG and metadata writes, locks) is
overhead. Goal: ratio <= 1.15.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
import yaml

from benchmarks.common import median_time, parser, report, setup, stand_in_finetune
from sine_bench.runner.run import run_protocol

ROOT = Path(__file__).resolve().parents[1]


def print0(*_) -> None:
    """Silence run_protocol's stage log."""


def protocol(tmp: Path, steps: int, device: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    data = {
        "name": "bench-harness-overhead",
        "model": {"name": "toy", "device": device},
        "dataset": str(ROOT / "datasets" / "toy-smoke"),
        "finetune": {"method": "sine-full", "steps": 2, "lr": 1e-4},
        "edit": {"steps": steps, "guidance": 5.0},
        "grid": {"v": [0.7], "K": list(range(0, 1001, 200)), "seeds": [0, 1]},
        "metrics": ["psnr"],
        "output": str(tmp / "run"),
        "store": str(tmp / "store"),
    }
    path = tmp / "protocol.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def call_costs(device: str, repeats: int) -> tuple[float, float]:
    """Seconds per pretrained (batch 2) and fine-tuned (batch 1) toy UNet call."""
    from sine_bench.models.loading import load_model

    model = load_model("toy", device=device)
    ft = stand_in_finetune(model)
    z = torch.randn(1, 4, 16, 16, device=model.device)
    text = model.encode_text(["", "a red circle on a blue background"])
    t = torch.tensor(501)
    with torch.no_grad():
        pair = median_time(lambda: model.unet(z.repeat(2, 1, 1, 1), t, text), 40, device)
        single = median_time(lambda: ft.unet(z, t, text[1:]), 40, device)
    return pair, single


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args()
    setup(args)
    with tempfile.TemporaryDirectory() as tmp:
        # warm-up run (imports, metric backbones, kernel selection), then the measured one
        run_protocol(protocol(Path(tmp) / "warm", 2, args.device), progress=False, log=print0)
        path = protocol(Path(tmp) / "measured", args.steps, args.device)
        out = run_protocol(path, progress=False, log=print0)
        manifest = json.loads((out / "manifest.json").read_text())
    pair, single = call_costs(args.device, args.repeats)
    edit = manifest["stages"]["edit"]
    evaluations = edit["unet_evaluations"]
    cells = manifest["cells"]
    # batch_size 1: one pretrained call (2 evaluations) per row and step, plus one
    # fine-tuned call (1 evaluation) per guided row and step
    finetuned_calls = edit["unet_evaluations_finetuned"]
    pretrained_calls = (evaluations - finetuned_calls) // 2
    predicted = pretrained_calls * pair + finetuned_calls * single
    report("cells", cells)
    report("UNet evaluations performed (edit stage)", evaluations)
    report("pretrained pair call (batch 2)", pair * 1e3, "ms")
    report("fine-tuned call (batch 1)", single * 1e3, "ms")
    report("edit stage wall time", edit["seconds"], "s")
    report("UNet calls x measured cost", predicted, "s")
    report("harness overhead: edit stage / UNet cost", edit["seconds"] / predicted, "", "<= 1.15")
    report("whole run wall time (fine-tune, edit, score, report)", manifest["seconds_total"], "s")
    if args.json:
        print(
            json.dumps(
                {
                    "edit_s": edit["seconds"],
                    "predicted_s": predicted,
                    "overhead": edit["seconds"] / predicted,
                    "evaluations": evaluations,
                }
            )
        )


if __name__ == "__main__":
    main()
