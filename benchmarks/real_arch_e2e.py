"""The real architecture end to end: a full-size SD-1.5 directory through `sine-bench run`.

    python -m benchmarks.real_arch_e2e [--methods sine-lora-patch,sine-lora] [--native 256]
        [--resolution 256x256] [--dtype float32|bfloat16|float16] [--device cpu|cuda]
        [--threads 1] [--workdir DIR] [--keep]

Builds a diffusers StableDiffusionPipeline directory with SD-1.5's exact architecture and
random weights (no download; ``benchmarks/sd15_random.py``; 4.3 GB in float32), once, in
its own process. Then, per fine-tune method, a fresh process runs a one-cell protocol on
that directory through the same ``run_protocol`` path as ``sine-bench run``: fine-tune 2
steps, edit 2 DDIM steps (one guided at K = 400), score (psnr, ssim, clip_t[toy],
lpips[alex]). It prints, per stage, the wall seconds and the peak resident memory within
that stage (Linux VmHWM, reset between stages; on CUDA also the peak GPU memory). The
fine-tune stage includes loading the model. ``--native`` sets the UNet's sample size
(256 px: 32 latents) and so the fine-tune resolution; no weight shape depends on it.

Full fine-tunes (sine-full, sine-patch) hold float32 AdamW state for the UNet and text
encoder (~14 GB) next to the pretrained model: pass them in ``--methods`` only on a
machine with the memory (docs/performance.md has the estimate per precision).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

from benchmarks.common import parser, run_isolated, setup
from sine_bench.protocol.fields import hxw

STAGES = ("fine-tune", "edit", "score")


def _hwm_gib() -> float:
    """Peak resident memory since the last reset (Linux /proc)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 2**20


def _reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")


class StageMeter:
    """A ``log`` callback for run_protocol: at each stage's summary line, the wall time and
    peak memory since the previous one."""

    def __init__(self, device: str):
        self.device = device
        self.rows: list[dict] = []
        self.lines: list[str] = []
        self._start()

    def _start(self) -> None:
        import torch

        _reset_hwm()
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        self.t0 = time.perf_counter()

    def __call__(self, line: str) -> None:
        import torch

        self.lines.append(line)
        stage = next((s for s in STAGES if line.startswith(s)), None)
        if stage is None and line.startswith("run directory:"):
            stage = "tables + report"
        if stage is None:
            return
        row = {"stage": stage, "seconds": time.perf_counter() - self.t0, "peak_rss_gib": _hwm_gib()}
        if self.device.startswith("cuda"):
            row["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
        self.rows.append(row)
        self._start()


def _source_image(path: Path, size: int) -> None:
    """A smooth photo-like test image: a lit ball on a graded floor."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:size, 0:size] / size
    floor = np.stack([0.55 + 0.3 * yy, 0.5 + 0.2 * yy, 0.35 + 0.1 * xx], -1)
    ball = ((xx - 0.5) ** 2 + (yy - 0.45) ** 2) < 0.07
    shade = np.clip(1.1 - 2.5 * np.hypot(xx - 0.43, yy - 0.38), 0.2, 1.0)
    floor[ball] = np.stack([0.85 * shade, 0.2 * shade, 0.15 * shade], -1)[ball]
    Image.fromarray((floor * 255).astype(np.uint8)).save(path)


def _protocol(args, model_dir: Path, method: str, work: Path) -> Path:
    import yaml

    image = work / "ball.png"
    if not image.exists():
        _source_image(image, hxw(args.resolution)[0])
    data = {
        "name": f"real-arch-{method}",
        "model": {"name": str(model_dir), "dtype": args.dtype, "device": args.device},
        "dataset": {
            "items": [
                {
                    "id": "ball",
                    "image": str(image),
                    "class_word": "ball",
                    "source": "a red ball on a floor",
                    "prompts": ["a blue ball on a floor"],
                }
            ]
        },
        "finetune": {
            "method": method,
            "steps": 2,
            "lr": 1.0e-6,
            "gradient_checkpointing": not args.no_checkpointing,
        },
        "edit": {"steps": 2, "K": 400, "v": 0.7, "resolution": args.resolution},
        "metrics": ["psnr", "ssim", "clip_t[toy]", "lpips[alex]"],
        "output": str(work / "runs" / method),
        "store": str(work / "store"),
    }
    path = work / f"{method}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def child_build(args) -> dict:
    start = time.perf_counter()
    from benchmarks.sd15_random import build_sd15_random_dir

    counts = build_sd15_random_dir(args.model_dir, native=args.native)
    return {"seconds": time.perf_counter() - start, "parameters": counts}


def child_load(args) -> dict:
    """Loading the directory alone (the first part of the fine-tune stage)."""
    start = time.perf_counter()
    from sine_bench.models.loading import load_model

    load_model(args.model_dir, device=args.device, dtype=args.dtype)
    return {"seconds": time.perf_counter() - start}  # (memory-mapped: resident once used)


def child_run(args) -> dict:
    from sine_bench.runner.run import run_protocol

    meter = StageMeter(args.device)
    path = _protocol(args, Path(args.model_dir), args.method, Path(args.workdir))
    start = time.perf_counter()
    out = run_protocol(path, progress=False, threads=args.threads, log=meter)
    manifest = json.loads((out / "manifest.json").read_text())
    adapter = sorted((Path(args.workdir) / "store" / "finetunes").rglob("*.safetensors"))
    return {
        "method": args.method,
        "stages": meter.rows,
        "seconds_total": time.perf_counter() - start,
        "finetune_bytes": sum(p.stat().st_size for p in adapter),
        "scores": _scores(out / "cells.csv"),
        "device": manifest["device"],
    }


def _scores(cells_csv: Path) -> dict:
    """The one cell's metric values (noise-level: the weights are random)."""
    import csv

    with open(cells_csv) as handle:
        row = next(csv.DictReader(handle))
    names = ("psnr", "ssim", "clip_t[toy]", "lpips[alex]", "st_lpips[alex]")
    return {k: float(v) for k, v in row.items() if k in names and v}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--methods", default="sine-lora-patch,sine-lora")
    p.add_argument("--native", type=int, default=256, help="native (fine-tune) resolution")
    p.add_argument("--resolution", default="256x256", help="edit output HxW")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--workdir", default="/tmp/sine-bench-real-arch")
    p.add_argument("--keep", action="store_true", help="keep the 4.3 GB model directory")
    p.add_argument("--no-checkpointing", action="store_true")
    p.add_argument("--child", choices=("build", "load", "run"), help="(internal)")
    p.add_argument("--method", help="(internal)")
    p.add_argument("--model-dir", help="(internal)")
    args = p.parse_args()
    if args.child:
        child = {"build": child_build, "load": child_load, "run": child_run}[args.child]
        print(json.dumps(child(args)))
        return
    setup(args)
    work = Path(args.workdir)
    model_dir = work / f"sd15-random-{args.native}"
    common = ["--workdir", str(work), "--model-dir", str(model_dir), "--threads", str(args.threads)]
    common += ["--device", args.device, "--dtype", args.dtype, "--native", str(args.native)]
    common += ["--resolution", args.resolution] + (["--no-checkpointing"] * args.no_checkpointing)
    results = {}
    try:
        if not (model_dir / "model_index.json").is_file():
            built = run_isolated("benchmarks.real_arch_e2e", *common, "--child", "build")
            print(f"built {model_dir} in {built['seconds']:.1f} s: {built['parameters']}")
            results["build"] = built
        loaded = run_isolated("benchmarks.real_arch_e2e", *common, "--child", "load")
        print(f"loading it alone (part of the fine-tune stage): {loaded['seconds']:.1f} s")
        results["load"] = loaded
        for method in args.methods.split(","):
            shutil.rmtree(work / "store", ignore_errors=True)  # every method from scratch
            r = run_isolated(
                "benchmarks.real_arch_e2e", *common, "--child", "run", "--method", method
            )
            results[method] = r
            tag = f"{args.device}, {args.dtype}, native {args.native}, edit {args.resolution}"
            print(f"\n{method} [{tag}]")
            print(f"  {'stage':16s} {'seconds':>8s} {'peak RSS GiB':>13s}")
            for row in r["stages"]:
                gpu = f"  GPU {row['peak_gpu_gib']:.2f} GiB" if "peak_gpu_gib" in row else ""
                print(
                    f"  {row['stage']:16s} {row['seconds']:8.1f} {row['peak_rss_gib']:13.2f}{gpu}"
                )
            stored = r["finetune_bytes"] / 1e6
            print(f"  total {r['seconds_total']:.1f} s; stored fine-tune {stored:.2f} MB")
            print(f"  scores (random weights: plumbing only): {r['scores']}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
