"""Real scale: the SD-1.5 UNet architecture (random weights, no download) at 512x512.

    python benchmarks/real_scale.py [--device cpu|cuda] [--modes guided-step,finetune-step]
                                    [--dtype float32|float16|bfloat16] [--compile]

One guided SINE step = one pretrained call on (unconditional, edit prompt) + one
fine-tuned call: 3 UNet evaluations at a 64x64 latent. One fine-tune step = forward +
backward + AdamW on the whole UNet (gradient checkpointing on: without it a CPU with
24 GiB cannot hold SD's activations next to its AdamW state), and the same for a rank-8
LoRA adapter. Each mode runs in its own process; its peak RSS is reported with it.
"""

from __future__ import annotations

import json
import sys

import torch
import torch.nn.functional as F

from benchmarks.common import call_times, parser, peak_rss_gib, report, run_isolated, setup
from benchmarks.sd15_random import sd15_unet

MODES = ("guided-step", "finetune-step", "finetune-step-lora")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def child(args) -> dict:
    torch.manual_seed(0)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    unet = sd15_unet().to(device, dtype)
    params = sum(p.numel() for p in unet.parameters())
    z = torch.randn(1, 4, 64, 64, device=device, dtype=dtype)
    text = torch.randn(2, 77, 768, device=device, dtype=dtype)
    t = torch.tensor([501], device=device)
    model = torch.compile(unet) if args.compile else unet
    if args.mode == "guided-step":
        unet.eval()

        @torch.no_grad()
        def step():
            model(z.repeat(2, 1, 1, 1), t, text)
            model(z, t, text[1:])
    else:
        unet.train()
        unet.enable_gradient_checkpointing()
        if args.mode == "finetune-step-lora":
            from sine_bench.sine.lora import LoraSettings, add_lora

            trainable = add_lora(unet, LoraSettings())
        else:
            trainable = list(unet.parameters())
        optimizer = torch.optim.AdamW(trainable, lr=1e-6)

        def step():
            loss = F.mse_loss(model(z, t, text[1:]).sample.float(), z.float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    times = call_times(step, args.repeats, args.device)  # after a warm-up (and compile)
    result = {"seconds": min(times), "peak_rss_gib": peak_rss_gib(), "parameters": params}
    if args.device.startswith("cuda"):
        result["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return result


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--mode", choices=MODES, help="(internal) run one mode")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    p.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    args = p.parse_args()
    if args.mode:
        print(json.dumps(child(args)))
        return
    setup(args)
    common = [
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--dtype",
        args.dtype,
        "--repeats",
        str(args.repeats),
    ] + (["--compile"] if args.compile else [])
    results = {}
    tag = f"[{args.device}, {args.dtype}{', compiled' if args.compile else ''}]"
    for mode in args.modes.split(","):
        r = run_isolated("benchmarks.real_scale", *common, "--mode", mode)
        results[mode] = r
        report(f"SD-1.5 UNet {mode} {tag}", r["seconds"], "s")
        report(f"SD-1.5 UNet {mode} peak RSS", r["peak_rss_gib"], "GiB")
        if "peak_gpu_gib" in r:
            report(f"SD-1.5 UNet {mode} peak GPU memory", r["peak_gpu_gib"], "GiB")
    if "guided-step" in results:
        g = results["guided-step"]["seconds"]
        report("one 100-step SINE edit, all steps guided (300 evaluations)", 100 * g / 60, "min")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
