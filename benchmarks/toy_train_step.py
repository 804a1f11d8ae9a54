"""Toy-recipe training step: float32 vs bfloat16 autocast, and what it means for the recipe.

    python -m benchmarks.toy_train_step [--threads 2] [--steps 10]

One step of the toy recipe's longest stage (``toy.train.train_unet``: UNet + text
encoder, batch 32 of 16 x 16 latents, noise-prediction MSE, AdamW) in float32 and under
``torch.autocast(dtype=torch.bfloat16)``. The recipe trains in float32; this measures
whether bfloat16 (fast on CPUs with AVX512-BF16 / AMX and on GPUs) could bring the full
recipe (7,000 UNet steps) near the toy-world issue's "about an hour". It says nothing
about the quality a bfloat16-trained model would reach: that needs a full retrain.
"""

from __future__ import annotations

import contextlib
import json

import torch
import torch.nn.functional as F

from benchmarks.common import median_time, parser, report, setup

BATCH = 32
UNET_STEPS = 7000  # ToyRecipe.unet_total_steps


def make_step(autocast_dtype: torch.dtype | None, device: str):
    """A closure running one training step of fresh toy UNet + text encoder."""
    from sine_bench.sine.components import sd_ddim_scheduler
    from sine_bench.toy.architecture import toy_text_encoder, toy_unet

    torch.manual_seed(0)
    unet = toy_unet().to(device).train()
    text_encoder = toy_text_encoder(642).to(device).train()
    params = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    schedule = sd_ddim_scheduler()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(BATCH, 4, 16, 16, generator=gen).to(device)
    ids = torch.randint(0, 642, (BATCH, 77), generator=gen).to(device)

    def step() -> None:
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, 1000, (BATCH,), generator=gen).to(device)
        z_t = schedule.add_noise(x0, noise, t)
        context = (
            torch.autocast(device_type=device.split(":")[0], dtype=autocast_dtype)
            if autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with context:
            pred = unet(z_t, t, text_encoder(ids)[0]).sample
            loss = F.mse_loss(pred.float(), noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    return step


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10, help="timed steps per precision")
    args = p.parse_args(argv)
    machine = setup(args)
    times = {}
    for name, dtype in (("float32", None), ("bfloat16-autocast", torch.bfloat16)):
        times[name] = median_time(make_step(dtype, args.device), args.steps, args.device)
        report(f"toy UNet+text step, {name}", times[name], "s")
        report(f"  x {UNET_STEPS} steps", times[name] * UNET_STEPS / 60, "min")
    ratio = times["float32"] / times["bfloat16-autocast"]
    report("speed-up of bfloat16 autocast over float32", ratio, "x")
    if args.json:
        print(json.dumps({"machine": machine, "step_seconds": times, "speedup": ratio}))


if __name__ == "__main__":
    main()
