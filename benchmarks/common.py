"""Shared helpers for the benchmark scripts: timing, the machine line, a fake fine-tune.

Benchmarks print ratios measured within one process run; nothing here is asserted in
unit tests (timings depend on the machine and its load).
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import time
from collections.abc import Callable

import torch


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--repeats", type=int, default=2, help="timing repeats (best is kept)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    return p


def setup(args) -> dict:
    """Apply thread settings; return the machine description printed with every number."""
    from sine_bench.environment import device_description

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    machine = device_description() | {"torch_threads": torch.get_num_threads()}
    if args.device.startswith("cuda") and torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name()
    print(f"machine: {json.dumps(machine, default=str)}", flush=True)
    return machine


def call_times(fn: Callable[[], object], calls: int, device: str = "cpu") -> list[float]:
    """Wall time of each of ``calls`` runs of ``fn``, after one warm-up run."""
    fn()
    times = []
    for _ in range(calls):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def median_time(fn: Callable[[], object], calls: int, device: str = "cpu") -> float:
    """Median wall time over ``calls`` runs: robust to a few calls slowed by other
    processes."""
    import statistics

    return statistics.median(call_times(fn, calls, device))


def sync(device: str) -> None:
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def stand_in_finetune(model, prompt: str = "a photo of a sks circle"):
    """A fine-tuned model with the cost of a real one (a UNet copy): the weights only
    change values, not the number or cost of evaluations."""
    from sine_bench.sine import FinetunedModel

    return FinetunedModel(copy.deepcopy(model.unet), model.text_encoder, prompt)


def report(name: str, value: float, unit: str = "", goal: str = "") -> None:
    goal = f"   (goal {goal})" if goal else ""
    print(f"{name:58s} {value:10.3f} {unit}{goal}", flush=True)


def run_isolated(module: str, *args: str) -> dict:
    """Run ``python -m module args`` in a fresh process (so its peak RSS is its own) and
    return the JSON object it prints last."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", module, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
