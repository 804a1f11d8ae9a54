"""Many images per UNet call: wall time of per-image units vs ``images_per_call`` units.

    python -m benchmarks.multi_image --threads 1 [--model toy] [--images 4] [--steps 50]

For ``--images`` fine-tunes of one protocol (stand-in full fine-tunes: UNet copies with
a perturbation; LoRA fine-tunes: random rank-8 adapters on the default targets) and one
edit each (v 0.7, K 400, its own seed), the same requests are sampled as the runner's
units would: one ``sample_grid`` per image (images_per_call 1; a LoRA adapter attached
alone, as ``LoadedModels.trained`` does) and one ``sample_grid`` over all images
(images_per_call = images; LoRA adapters side by side). Loading is not timed, sampling
is (best of ``--repeats``, alternating). Prints UNet evaluations (equal by construction),
UNet calls, wall times, their ratio and the largest |latent difference| between the two.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import parser, report, setup, sync

PROMPT, TRAINED = "a large blue circle on a red background", "a photo of a sks circle"


class CallCounter:
    """UNet forward calls and rows through the given modules (forward pre-hooks)."""

    def __init__(self, modules: list[torch.nn.Module]) -> None:
        self.calls = self.rows = 0
        self.hooks = [m.register_forward_pre_hook(self._count) for m in modules]

    def _count(self, module, args) -> None:
        self.calls += 1
        self.rows += len(args[0])

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()


def full_finetunes(model, n: int) -> list:
    """n stand-in full fine-tunes: UNet copies, each perturbed with its own seed."""
    from sine_bench.sine import FinetunedModel

    out = []
    for i in range(n):
        unet = copy.deepcopy(model.unet)
        g = torch.Generator().manual_seed(100 + i)
        with torch.no_grad():
            for p in unet.parameters():
                p.add_(1e-3 * torch.randn(p.shape, generator=g).to(p.device, p.dtype))
        out.append(FinetunedModel(unet, model.text_encoder, TRAINED))
    return out


def lora_folders(model, n: int, root: Path) -> list[Path]:
    """n saved random adapters (rank 8, default targets) for ``model.unet``."""
    from sine_bench.sine.lora import LoraSettings, add_lora, detach_lora, save_lora

    folders = []
    for i in range(n):
        params = add_lora(model.unet, LoraSettings())
        g = torch.Generator().manual_seed(200 + i)
        with torch.no_grad():
            for p in params:
                p.copy_(0.02 * torch.randn(p.shape, generator=g).to(p.device, p.dtype))
        folders.append(root / str(i))
        save_lora(model.unet, folders[-1])
        detach_lora(model.unet)
    return folders


def attach(model, folders: list[Path], side_by_side: bool) -> list:
    """The adapters as FinetunedModels: all side by side, or (False) the last one alone."""
    from sine_bench.sine import FinetunedModel
    from sine_bench.sine.lora import ADAPTER, LoraSettings, adapter_name, attach_lora, detach_lora

    detach_lora(model.unet)
    names = [adapter_name(i) for i in range(len(folders))] if side_by_side else [ADAPTER]
    chosen = folders if side_by_side else folders[-1:]
    pairs = zip(chosen, names, strict=True)
    views = [attach_lora(model.unet, f, LoraSettings(), None, n) for f, n in pairs]
    return [FinetunedModel(v, model.text_encoder, TRAINED) for v in views]


def requests_for(n: int) -> list:
    from sine_bench.sine.grid_sampler import EditRequest

    return [EditRequest(PROMPT, 0.7, 400, 7.5, seed=i, model=i) for i in range(n)]


def timed(device: str, fn, *args, **kwargs) -> tuple[float, object]:
    sync(device)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    sync(device)
    return time.perf_counter() - start, out


def compare(model, kind: str, n: int, steps: int, repeats: int, device: str) -> dict:
    """Per-image vs multi-image sampling of ``n`` fine-tunes of ``kind`` (full or lora)."""
    from dataclasses import replace

    from sine_bench.sine import EvaluationCounter
    from sine_bench.sine.grid_sampler import sample_grid
    from sine_bench.sine.lora import detach_lora

    detach_lora(model.unet)  # the plain base model, whatever ran before
    side = model.native_resolution
    kw = dict(height=side, width=side, steps=steps)
    requests = requests_for(n)
    tmp = tempfile.TemporaryDirectory()
    folders = lora_folders(model, n, Path(tmp.name)) if kind == "lora" else []
    finetunes = full_finetunes(model, n) if kind == "full" else []

    def per_image():
        counter, out, seconds = EvaluationCounter(), [], 0.0
        for i, request in enumerate(requests):
            ft = finetunes[i] if kind == "full" else attach(model, folders[: i + 1], False)[0]
            one = replace(request, model=0)
            t, z = timed(device, sample_grid, model, ft, [one], counter=counter, **kw)
            seconds, out = seconds + t, out + z
        return seconds, out, counter.total

    def together():
        fts = finetunes if kind == "full" else attach(model, folders, True)
        counter = EvaluationCounter()
        kw_n = kw | {"images_per_call": n, "counter": counter}
        seconds, out = timed(device, sample_grid, model, fts, requests, **kw_n)
        return seconds, out, counter.total

    unets = [model.unet] + [f.unet for f in finetunes]
    results = {"per_image": [], "together": []}
    calls = {}
    for _ in range(max(repeats, 1)):
        for name, fn in (("per_image", per_image), ("together", together)):
            counter = CallCounter(unets)
            results[name].append(fn())
            counter.close()
            calls[name] = (counter.calls, counter.rows)
    detach_lora(model.unet)
    tmp.cleanup()
    best = {name: min(runs, key=lambda x: x[0]) for name, runs in results.items()}
    diff = max(
        (a - b).abs().max().item()
        for a, b in zip(best["per_image"][1], best["together"][1], strict=True)
    )
    row = {"kind": kind, "images": n, "steps": steps, "max_abs_diff": diff}
    for name, (seconds, _, evals) in best.items():
        row[name] = {"seconds": seconds, "evaluations": evals}
        row[name] |= {"calls": calls[name][0], "rows": calls[name][1]}
    row["ratio"] = row["per_image"]["seconds"] / row["together"]["seconds"]
    return row


def print_row(row: dict) -> None:
    label = f"{row['kind']} x{row['images']}"
    for name in ("per_image", "together"):
        r = row[name]
        report(f"{label}: {name} ({r['evaluations']} evals, {r['calls']} calls)", r["seconds"], "s")
    report(f"{label}: wall ratio per-image / together", row["ratio"], "x")
    print(f"{label + ': max |latent difference|':58s} {row['max_abs_diff']:10.2e}", flush=True)


def main(argv: list[str] | None = None) -> list[dict]:
    from sine_bench.models.loading import load_model

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default="toy")
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--kinds", default="full,lora")
    args = p.parse_args(argv)
    setup(args)
    model = load_model(args.model, device=args.device)
    rows = []
    for kind in args.kinds.split(","):
        rows.append(compare(model, kind, args.images, args.steps, args.repeats, args.device))
        print_row(rows[-1])
    if args.json:
        print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
