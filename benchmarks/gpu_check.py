"""GPU check: fine-tune and edit time and peak memory of sine-patch and sine-lora-patch in
float32, bfloat16 and float16, with and without the fine-tune's memory levers.

    python -m benchmarks.gpu_check                       # CUDA, SD-1.5 architecture, 512x512
    python -m benchmarks.gpu_check --device cpu --tiny   # CI: the tiny random model, seconds
    nox -s gpu-check [-- --json]

It runs sine_bench's own ``finetune`` and ``sine_edit`` on SD-1.5's real architecture with
random weights (``benchmarks/sd15_random.py``; no download), built directly on the device:
``--finetune-steps`` patch fine-tune steps at the native 512x512 and a ``--edit-steps``
DDIM edit at 512x512 (v 0.7, K 400: every step guided, 3 UNet evaluations). "levers" is
gradient checkpointing (UNet and text encoder) + 8-bit AdamW (if bitsandbytes imports) +
step_in_backward (not float16: its gradient scaler) + offload_pretrained (full fine-tunes).
Peak memory: CUDA's max_memory_allocated per phase (reserved in brackets; the CUDA
context is not in either); on CPU the process's peak RSS so far (it never resets, so
only the first row is a phase's own). A configuration that runs out of memory is
reported as OOM and the next one runs. Then, per dtype, the multi-image throughput
(``benchmarks/multi_image.py``): ``--multi-images`` LoRA (and full, ``--multi-kinds``)
fine-tunes edited per image vs all in one grid (``edit.images_per_call``), images per
second each way (best of ``--repeats``), their ratio and the largest |latent
difference|. Expected wall time on one modern GPU: a few minutes (12 configurations;
most of it building the random weights once per dtype).
"""

from __future__ import annotations

import gc
import json
import sys
import time

import torch

from benchmarks.common import parser, peak_rss_gib, setup, sync

DTYPES = ("float32", "bfloat16", "float16")
METHODS = ("sine-patch", "sine-lora-patch")
PROMPT, EDIT = "a photo of a sks dog", "a photo of a dog wearing a hat"


def build_model(tiny: bool, device: str, dtype: str):
    """The tiny random model, or SD-1.5's architecture with random weights on ``device``."""
    from sine_bench.models.loading import load_model

    if tiny:
        return load_model("tiny-random", device=device, dtype=dtype)
    from benchmarks.sd15_random import sd15_text_encoder, sd15_unet, sd15_vae
    from sine_bench.sine import DiffusionModel, sd_ddim_scheduler
    from sine_bench.tokenizer import offline_clip_tokenizer

    torch_dtype = getattr(torch, dtype)
    with torch.device(device):  # initialise on the device: seconds instead of minutes
        parts = [sd15_vae(), sd15_unet(), sd15_text_encoder()]
    vae, unet, text = (p.to(dtype=torch_dtype).eval().requires_grad_(False) for p in parts)
    return DiffusionModel(vae, unet, text, offline_clip_tokenizer(), sd_ddim_scheduler())


def settings_for(method: str, model, dtype: str, levers: bool, steps: int):
    from sine_bench.sine import FinetuneSettings, LoraSettings, PatchSettings
    from sine_bench.sine.memory import missing_optimizer_library
    from sine_bench.sine.patches import default_patch_grid

    lora = LoraSettings() if method == "sine-lora-patch" else None
    extra = {}
    if levers:
        eight_bit = missing_optimizer_library("adamw-8bit") is None
        extra = dict(
            gradient_checkpointing=True,
            optimizer="adamw-8bit" if eight_bit else "adamw",
            step_in_backward=dtype != "float16",
            offload_pretrained=lora is None,
        )
    grid = default_patch_grid(model.native_resolution, model.vae_factor)
    return FinetuneSettings(
        steps=steps,
        learning_rate=1e-6,
        train_text_encoder=lora is None,
        patches=PatchSettings(grid=grid),
        lora=lora,
        **extra,
    )


class Peak:
    """Per-phase peak memory: CUDA's allocator stats, or the process's peak RSS on CPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")

    def reset(self) -> None:
        # On CPU the peak is the process's lifetime peak RSS, which no collection lowers:
        # collecting there only costs time (seconds per call in a test process's heap).
        if self.cuda:
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def read(self) -> dict:
        if self.cuda:
            return {
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
                "reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
            }
        return {"peak_gib": peak_rss_gib(), "reserved_gib": None}


def check_one(model, method: str, dtype: str, levers: bool, args, peak: Peak) -> dict:
    from sine_bench.sine import finetune, sine_edit

    settings = settings_for(method, model, dtype, levers, args.finetune_steps)
    side = model.native_resolution
    image = torch.rand(3, side, side) * 2 - 1
    row: dict = {"method": method, "dtype": dtype, "levers": levers}
    row["optimizer"] = settings.optimizer
    try:
        peak.reset()
        start = time.perf_counter()
        result = finetune(model, image, PROMPT, settings, progress=False)
        sync(args.device)
        seconds = time.perf_counter() - start
        row["finetune"] = {"seconds": seconds, "per_step": seconds / args.finetune_steps}
        row["finetune"] |= peak.read()
        peak.reset()
        start = time.perf_counter()
        kwargs = dict(v=0.7, k=400, height=side, width=side, steps=args.edit_steps, seed=0)
        sine_edit(model, result.model, EDIT, **kwargs)
        sync(args.device)
        row["edit"] = {"seconds": time.perf_counter() - start} | peak.read()
        del result
    except torch.OutOfMemoryError as err:
        row["error"] = f"OOM: {str(err).splitlines()[0][:120]}"
    peak.reset()
    return row


def line(row: dict) -> str:
    head = f"{row['method']:16s} {row['dtype']:9s} {'levers' if row['levers'] else 'plain':7s}"
    if "error" in row:
        return f"{head} {row['error']}"
    ft, ed = row["finetune"], row["edit"]
    reserved = f" [{ft['reserved_gib']:.2f}]" if ft["reserved_gib"] is not None else ""
    return (
        f"{head} fine-tune {ft['per_step']:7.3f} s/step {ft['peak_gib']:7.2f} GiB{reserved}"
        f" | edit {ed['seconds']:7.2f} s {ed['peak_gib']:7.2f} GiB"
    )


def multi_image(model, dtype: str, args) -> list[dict]:
    """Per-image vs multi-image edit throughput of each ``--multi-kinds`` on ``model``."""
    from benchmarks.multi_image import compare

    rows = []
    for kind in [k for k in args.multi_kinds.split(",") if k]:
        try:
            n, steps = args.multi_images, args.edit_steps
            row = compare(model, kind, n, steps, args.repeats, args.device)
        except torch.OutOfMemoryError as err:
            row = {"kind": kind, "error": f"OOM: {str(err).splitlines()[0][:120]}"}
        rows.append({"multi_image": row, "dtype": dtype})
        print(multi_line(rows[-1]), flush=True)
    return rows


def multi_line(entry: dict) -> str:
    row = entry["multi_image"]
    head = f"multi-image {row['kind']:5s} {entry['dtype']:9s}"
    if "error" in row:
        return f"{head} {row['error']}"
    per, together = row["per_image"], row["together"]
    n = row["images"]
    return (
        f"{head} {n} images: per-image {n / per['seconds']:7.2f} images/s ({per['calls']} calls)"
        f" | together {n / together['seconds']:7.2f} images/s ({together['calls']} calls)"
        f" | {row['ratio']:.2f}x, max |diff| {row['max_abs_diff']:.1e}"
    )


def main(argv: list[str] | None = None) -> list[dict]:
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(device="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tiny", action="store_true", help="the tiny random model (CI, CPU)")
    p.add_argument("--dtypes", default=",".join(DTYPES))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--finetune-steps", type=int, default=3)
    p.add_argument("--edit-steps", type=int, default=4)
    p.add_argument("--multi-images", type=int, default=4, help="fine-tunes per multi-image call")
    p.add_argument("--multi-kinds", default="lora,full", help="lora, full, both or ''")
    args = p.parse_args(argv)
    choices = (("dtypes", DTYPES), ("methods", METHODS), ("multi_kinds", ("lora", "full", "")))
    for name, allowed in choices:
        bad = set(getattr(args, name).split(",")) - set(allowed)
        if bad:
            flag, unknown = name.replace("_", "-"), ", ".join(sorted(bad))
            p.error(f"--{flag}: unknown {unknown} (one of {', '.join(a for a in allowed if a)})")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device here (use --device cpu --tiny)")
    setup(args)
    peak, rows = Peak(args.device), []
    size = "tiny" if args.tiny else "SD-1.5 architecture, random weights"
    for dtype in args.dtypes.split(","):
        start = time.perf_counter()
        model = build_model(args.tiny, args.device, dtype)
        side = model.native_resolution
        print(f"{dtype}: built {size} ({side}x{side}) in {time.perf_counter() - start:.1f} s")
        for method in args.methods.split(","):
            for levers in (False, True):
                rows.append(check_one(model, method, dtype, levers, args, peak))
                print(line(rows[-1]), flush=True)
        rows += multi_image(model, dtype, args)
        del model
        peak.reset()
    if args.json:
        print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
    sys.exit(0)
