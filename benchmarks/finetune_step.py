"""Fine-tune step cost: SINE's training step vs a bare UNet forward + backward.

    python benchmarks/finetune_step.py [--model toy] [--steps 20] [--device cpu]

Each variant runs in its own process (peak RSS is per variant): the bare step (UNet
forward + backward, then the same with the AdamW update), and ``finetune()`` steps for
sine-full, sine-full with gradient checkpointing, sine-patch (a VAE encode of a crop
per step) and sine-lora. The fine-tune step time is (time of N steps - time of 0
steps) / N, so set-up (copying the UNet, encoding the image) is excluded.
Goal: sine-full step / bare forward+backward+AdamW <= 1.1.
"""

from __future__ import annotations

import json
import sys
import time

import torch
import torch.nn.functional as F

from benchmarks.common import parser, peak_rss_gib, report, run_isolated, setup, sync

VARIANTS = (
    "bare-fwd-bwd",
    "bare-fwd-bwd-adamw",
    "sine-full",
    "sine-full-ckpt",
    "sine-patch",
    "sine-lora",
)


def bare(model, steps: int, optimizer_step: bool, device: str) -> float:
    import copy

    unet = copy.deepcopy(model.unet).train().requires_grad_(True)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-6)
    size = model.native_resolution // model.vae_factor
    channels = unet.config.in_channels
    z = torch.randn(1, channels, size, size, device=model.device)
    text = model.encode_text(["a photo of a sks circle"])

    def step():
        t = torch.randint(0, 1000, (1,), device=model.device)
        loss = F.mse_loss(unet(z, t, text).sample, z)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if optimizer_step:
            optimizer.step()

    step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps


def finetune_step(model, variant: str, steps: int, device: str) -> float:
    from sine_bench.sine import FinetuneSettings, LoraSettings, PatchSettings, finetune
    from sine_bench.sine.patches import default_patch_grid

    grid = default_patch_grid(model.native_resolution, model.vae_factor)
    options = {
        "sine-full": {},
        "sine-full-ckpt": {"gradient_checkpointing": True},
        "sine-patch": {"patches": PatchSettings(grid=grid)},
        "sine-lora": {"lora": LoraSettings(), "train_text_encoder": False},
    }[variant]
    image = torch.rand(3, model.native_resolution, model.native_resolution) * 2 - 1

    def run(n: int) -> float:
        settings = FinetuneSettings(steps=n, learning_rate=1e-6, **options)
        sync(device)
        start = time.perf_counter()
        finetune(model, image, "a photo of a sks circle", settings, progress=False)
        sync(device)
        return time.perf_counter() - start

    run(1)  # warm-up
    return (run(steps) - run(0)) / steps


def child(args) -> None:
    from sine_bench.models.loading import load_model

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, device=args.device)
    if args.variant.startswith("bare"):
        seconds = bare(model, args.steps, args.variant.endswith("adamw"), args.device)
    else:
        seconds = finetune_step(model, args.variant, args.steps, args.device)
    print(json.dumps({"seconds": seconds, "peak_rss_gib": peak_rss_gib()}))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", default="toy")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--variant", choices=VARIANTS, help="(internal) run one variant")
    args = p.parse_args()
    if args.variant:
        return child(args)
    setup(args)
    common = [
        "--model",
        args.model,
        "--steps",
        str(args.steps),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ]
    results = {}
    for variant in VARIANTS:
        results[variant] = run_isolated("benchmarks.finetune_step", *common, "--variant", variant)
        r = results[variant]
        report(f"{variant}: seconds per step", r["seconds"], "s")
        report(f"{variant}: peak RSS", r["peak_rss_gib"], "GiB")
    base = results["bare-fwd-bwd-adamw"]["seconds"]
    for variant in VARIANTS[2:]:
        goal = "<= 1.1" if variant == "sine-full" else ""
        report(f"{variant} step / bare fwd+bwd+AdamW", results[variant]["seconds"] / base, "", goal)
    report(
        "sine-full step / bare fwd+bwd (no optimizer)",
        results["sine-full"]["seconds"] / results["bare-fwd-bwd"]["seconds"],
    )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
