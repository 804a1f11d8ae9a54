"""K-sweep cost: UNet evaluations and wall time, edit by edit vs K-prefix sharing.

    python benchmarks/k_sweep.py [--model toy] [--steps 100] [--device cpu]

For one (fine-tune, prompt, v, seed) and K in {0, 200, ..., 1000} and {0, 100, ..., 1000}:
the evaluation counts (issue 5: 1500 vs 900 and 2750 vs 1400 at 100 steps), the wall
time of running each K with ``sample_latents`` vs one ``sample_grid`` call, and the
ratio of the two ratios (goal: wall-time ratio >= 0.9 x count ratio). Also a batched
grid (3 seeds x the 11 K values, ``batch_size`` rows per UNet call).
"""

from __future__ import annotations

import json
import time

from benchmarks.common import parser, report, setup, stand_in_finetune, sync
from sine_bench.models.loading import load_model
from sine_bench.sine import EvaluationCounter
from sine_bench.sine.grid_sampler import EditRequest, sample_grid, sample_one

PROMPT = "a large blue circle on a red background"


def best_of(repeats, fn, *args, **kwargs):
    """(min wall time, evaluations) over ``repeats`` runs."""
    runs = [fn(*args, **kwargs) for _ in range(max(repeats, 1))]
    return min(t for t, _ in runs), runs[0][1]


def naive(model, ft, requests, steps, h, w, device):
    counter = EvaluationCounter()
    sync(device)
    start = time.perf_counter()
    for r in requests:
        sample_one(model, ft, r, height=h, width=w, steps=steps, counter=counter)
    sync(device)
    return time.perf_counter() - start, counter.total


def shared(model, ft, requests, steps, h, w, device, batch_size=1):
    counter = EvaluationCounter()
    sync(device)
    start = time.perf_counter()
    sample_grid(
        model,
        ft,
        requests,
        height=h,
        width=w,
        steps=steps,
        batch_size=batch_size,
        counter=counter,
    )
    sync(device)
    return time.perf_counter() - start, counter.total


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default="toy")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args()
    setup(args)
    model = load_model(args.model, device=args.device)
    ft = stand_in_finetune(model)
    size = model.native_resolution
    results = {}
    shared(model, ft, [EditRequest(PROMPT, 0.7, 0, 7.5, 0)], 5, size, size, args.device)  # warm
    for spacing in (200, 100):
        requests = [EditRequest(PROMPT, 0.7, k, 7.5, 0) for k in range(0, 1001, spacing)]
        common = (model, ft, requests, args.steps, size, size, args.device)
        t_naive, n_naive = best_of(args.repeats, naive, *common)
        t_shared, n_shared = best_of(args.repeats, shared, *common)
        count_ratio, time_ratio = n_naive / n_shared, t_naive / t_shared
        label = f"K step {spacing}"
        report(f"{label}: UNet evaluations edit by edit", n_naive)
        report(f"{label}: UNet evaluations with sharing", n_shared)
        report(f"{label}: evaluation ratio naive/shared", count_ratio, "x")
        report(f"{label}: wall time edit by edit", t_naive, "s")
        report(f"{label}: wall time with sharing", t_shared, "s")
        report(f"{label}: wall-time ratio naive/shared", time_ratio, "x")
        report(f"{label}: wall ratio / evaluation ratio", time_ratio / count_ratio, "", ">= 0.9")
        results[label] = dict(
            naive_evals=n_naive,
            shared_evals=n_shared,
            naive_s=t_naive,
            shared_s=t_shared,
            count_ratio=count_ratio,
            time_ratio=time_ratio,
        )
    grid = [EditRequest(PROMPT, 0.7, k, 7.5, s) for s in range(3) for k in range(0, 1001, 100)]
    common = (model, ft, grid, args.steps, size, size, args.device)
    t_one, n = best_of(args.repeats, shared, *common, 1)
    t_batched, _ = best_of(args.repeats, shared, *common, args.batch_size)
    report(f"3 seeds x 11 K: shared, 1 row per call ({n} evals)", t_one, "s")
    report(f"3 seeds x 11 K: shared, batch {args.batch_size}", t_batched, "s")
    report("batching speed-up", t_one / t_batched, "x")
    results["batching"] = dict(
        evals=n, one_row_s=t_one, batched_s=t_batched, batch_size=args.batch_size
    )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
