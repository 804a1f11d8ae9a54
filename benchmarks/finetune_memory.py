"""Peak memory of SINE's full fine-tune (UNet + text encoder trained) on SD-1.5's real
architecture (random weights, 512x512, batch 1) for each combination of memory levers,
and of one edit step.

    python -m benchmarks.finetune_memory [--threads 1] [--configs all-levers,edit,...]
                                         [--headroom-gib 4] [--json]

Each configuration runs in its own process and measures one steady-state fine-tune step:
the optimiser state exists before it (created by a step on zero gradients, as after the
first real step), then a VAE encode of a 512x512 image (no grad; sine-patch encodes a crop
each step), the text encoder and UNet forward, the noise-MSE backward and the optimiser
step, with the levers' own code (``sine_bench.sine.memory``). Peak memory is the process's
peak resident set (``getrusage`` ru_maxrss) minus its resident set after importing the
libraries (``base``), so it is weights + gradients + optimiser state + activations +
allocator overhead. "Pretrained resident" keeps the frozen fp32 pretrained UNet and text
encoder in the process, as they sit on the accelerator without ``offload_pretrained``;
"offloaded" leaves them out (in host memory, off the device being measured).

What a CPU figure leaves out compared with CUDA: the CUDA context (~0.3-0.6 GB), the
caching allocator's fragmentation and reserved-but-unused blocks, cuDNN / cuBLAS
workspaces, and the foreach AdamW's temporaries (on CUDA AdamW defaults to foreach, whose
intermediates are about one state tensor's size per parameter group; the CPU runs
single-tensor AdamW and ``step_in_backward`` steps one parameter at a time on both).

Memory safety: before each configuration the parent reads MemAvailable; a configuration
whose exactly computed weights + gradients + state (+ an activation allowance) exceed
MemAvailable minus ``--headroom-gib`` is not started and its state bytes are reported
as "computed, not measured"; a running child whose RSS crosses that budget is killed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from benchmarks.common import parser, peak_rss_gib, setup

GB = 1e9
BNB_MIN_8BIT_SIZE = 4096  # bitsandbytes keeps 32-bit state for smaller tensors
BNB_BLOCK = 256  # its block-wise quantisation: one float32 absmax per 256 values


@dataclass(frozen=True)
class Config:
    name: str
    optimizer: str = "adamw-8bit"
    checkpointing: str = "unet+text"  # "", "unet", "unet+text"
    step_in_backward: bool = True
    offload: bool = True  # pretrained UNet + text encoder off the measured device
    edit: bool = False

    def label(self) -> str:
        if self.edit:
            return "edit: one guided step (3 evaluations) + VAE decode, no grad"
        parts = [
            self.optimizer,
            f"ckpt {self.checkpointing or 'none'}",
            "step-in-backward" if self.step_in_backward else "one step after backward",
            "pretrained offloaded" if self.offload else "pretrained resident",
        ]
        return ", ".join(parts)


CONFIGS = {
    c.name: c
    for c in (
        Config("all-levers"),
        Config("no-offload", offload=False),
        Config("no-step-in-backward", step_in_backward=False),
        Config("no-8bit", optimizer="adamw"),
        Config("no-text-ckpt", checkpointing="unet"),
        Config("no-ckpt", checkpointing=""),
        Config("ckpt-only", optimizer="adamw", step_in_backward=False, offload=False),
        Config("plain", optimizer="adamw", checkpointing="", step_in_backward=False, offload=False),
        Config("edit", edit=True),
    )
}
# activations + allocator overhead allowed for in the safety estimate (GB); measured with
# checkpointing: 1.9 (all-levers). A child that grows past the budget is killed anyway.
ACTIVATION_ALLOWANCE = {"": 12.0, "unet": 2.5, "unet+text": 2.5}


# ----------------------------------------------------------------------- exact sizes


def _meta_models():
    from benchmarks.sd15_random import sd15_text_encoder, sd15_unet, sd15_vae

    with torch.device("meta"):
        return sd15_unet(), sd15_text_encoder(), sd15_vae()


def state_bytes(numels: list[int], optimizer: str) -> int:
    """AdamW's two moments for tensors of these sizes: float32 (8 B a value), or
    bitsandbytes 8-bit (1 B each moment + a float32 absmax per 256-value block + the
    two 256-entry float32 quantisation maps; 32-bit below 4096 values); torch's AdamW
    also keeps its step as a float32 tensor (bitsandbytes as a Python int)."""
    total = 0
    for n in numels:
        if optimizer == "adamw":
            total += 8 * n + 4
        elif n < BNB_MIN_8BIT_SIZE:
            total += 8 * n
        else:
            blocks = -(-n // BNB_BLOCK)
            total += 2 * n + 2 * 4 * blocks + 2 * 256 * 4
    return total


def computed(config: Config) -> dict:
    """Weights, gradients, optimiser state and pretrained copies in bytes, exactly."""
    unet, text, vae = _meta_models()
    trained = [p.numel() for m in (unet, text) for p in m.parameters()]
    weights = 4 * sum(trained)
    out = {
        "trained_weights": weights,
        "gradients": 0 if config.step_in_backward else weights,
        "optimizer_state": state_bytes(trained, config.optimizer),
        "pretrained": 0 if config.offload else weights,
        "vae": 4 * sum(p.numel() for p in vae.parameters()),
    }
    out["total"] = sum(out.values())
    return out


# ----------------------------------------------------------------------- child


def _rss_gib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def _edit_child() -> dict:
    from benchmarks.sd15_random import sd15_text_encoder, sd15_unet, sd15_vae

    base = _rss_gib()
    pre, pre_text = sd15_unet().eval(), sd15_text_encoder().eval()
    ft, ft_text = sd15_unet().eval(), sd15_text_encoder().eval()
    vae = sd15_vae().eval()
    ids = torch.randint(0, 49408, (1, 77))
    start = time.perf_counter()
    with torch.no_grad():
        empty, edit = pre_text(ids)[0], pre_text(ids)[0]
        own = ft_text(ids)[0]
        z, t = torch.randn(1, 4, 64, 64), torch.tensor([501])
        pre(torch.cat([z, z]), t, torch.cat([empty, edit]))
        ft(z, t, own)
        vae.decode(z / 0.18215)
    return {"base_gib": base, "seconds": time.perf_counter() - start}


def _train_child(config: Config) -> dict:
    from benchmarks.sd15_random import sd15_text_encoder, sd15_unet, sd15_vae
    from sine_bench.sine.finetune import FinetuneSettings, _text_encoder_checkpointing
    from sine_bench.sine.memory import trainable_optimizer

    base = _rss_gib()
    if not config.offload:  # the frozen pretrained pair, as resident on the device
        kept = (sd15_unet().eval().requires_grad_(False), sd15_text_encoder().eval())
        kept[1].requires_grad_(False)
    unet, text, vae = sd15_unet().train(), sd15_text_encoder().train(), sd15_vae().eval()
    vae.requires_grad_(False)
    if "unet" in config.checkpointing:
        unet.enable_gradient_checkpointing()
    if "text" in config.checkpointing:
        _text_encoder_checkpointing(text, True)
    params = list(unet.parameters()) + list(text.parameters())
    settings = FinetuneSettings(
        learning_rate=1e-6, optimizer=config.optimizer, step_in_backward=config.step_in_backward
    )
    optimizer, stepper = trainable_optimizer(settings, params)
    for opt in [optimizer] if optimizer else stepper.optimizers.values():
        for group in opt.param_groups:  # state as after a first step, one tensor at a time
            for p in group["params"]:
                p.grad = torch.zeros_like(p)
                opt.step()
                p.grad = None
    state = sum(
        v.numel() * v.element_size()
        for opt in ([optimizer] if optimizer else stepper.optimizers.values())
        for s in opt.state.values()
        for v in s.values()
        if torch.is_tensor(v)
    )
    ids = torch.randint(0, 49408, (1, 77))
    image = torch.rand(1, 3, 512, 512) * 2 - 1
    before = _rss_gib()
    start = time.perf_counter()
    with torch.no_grad():
        x0 = vae.encode(image).latent_dist.sample() * 0.18215
    after_encode = peak_rss_gib()
    noise, t = torch.randn_like(x0), torch.tensor([501])
    pred = unet(x0 + noise, t, text(ids)[0]).sample
    loss = F.mse_loss(pred.float(), noise)
    loss.backward()
    if optimizer is not None:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {
        "base_gib": base,
        "before_step_gib": before,
        "peak_after_encode_gib": after_encode,
        "seconds": time.perf_counter() - start,
        "state_bytes_measured": state,
    }


def child(name: str) -> dict:
    config = CONFIGS[name]
    result = _edit_child() if config.edit else _train_child(config)
    result["peak_gib"] = peak_rss_gib()
    result["net_peak_gb"] = (result["peak_gib"] - result["base_gib"]) * 2**30 / GB
    return result


# ----------------------------------------------------------------------- parent


def mem_available_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def _child_rss_gib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def run_guarded(name: str, threads: int, budget_gib: float, floor_gib: float) -> dict:
    """The child's JSON result, or {"killed_at_gib": ...} if its RSS crossed the budget or
    the machine's MemAvailable fell below ``floor_gib`` (other processes grow too)."""
    cmd = [sys.executable, "-m", "benchmarks.finetune_memory", "--config", name]
    cmd += ["--threads", str(threads)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        while p.poll() is None:
            rss = _child_rss_gib(p.pid)
            if rss > budget_gib or mem_available_gib() < floor_gib:
                p.kill()
                p.wait()
                return {"killed_at_gib": rss, "budget_gib": budget_gib}
            time.sleep(0.2)
        out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def estimate_gb(config: Config) -> float:
    """Upper estimate of a configuration's need (GB), for the safety check."""
    if config.edit:
        return 9.0
    return computed(config)["total"] / GB + ACTIVATION_ALLOWANCE[config.checkpointing] + 1.0


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names")
    p.add_argument("--config", choices=sorted(CONFIGS), help="(internal) run one")
    p.add_argument("--headroom-gib", type=float, default=4.0)
    p.add_argument("--computed-only", action="store_true", help="exact state bytes, no runs")
    args = p.parse_args()
    if args.config:
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        print(json.dumps(child(args.config)))
        return
    setup(args)
    rows = {}
    print(f"{'configuration':28s} {'state GB':>9s} {'exact GB':>9s} {'peak GB':>8s}  how")
    for name in args.configs.split(","):
        config = CONFIGS[name]
        exact = None if config.edit else computed(config)
        budget = mem_available_gib() - args.headroom_gib
        row = {"label": config.label(), "config": asdict(config), "computed": exact}
        if args.computed_only:
            row["measured"], how = None, "computed only (--computed-only)"
        elif estimate_gb(config) * GB / 2**30 > budget:
            row["measured"] = None
            need = estimate_gb(config)
            how = f"computed, not measured (needs ~{need:.1f} GB; {budget:.1f} GiB free)"
        else:
            row["measured"] = run_guarded(name, args.threads, budget, args.headroom_gib / 2)
            m = row["measured"]
            how = (
                "killed (over budget)"
                if "killed_at_gib" in m
                else f"measured, {m['seconds']:.0f} s"
            )
        rows[name] = row
        state = f"{exact['optimizer_state'] / GB:9.2f}" if exact else f"{'-':>9s}"
        total = f"{exact['total'] / GB:9.2f}" if exact else f"{'-':>9s}"
        measured = row["measured"] or {}
        peak = f"{measured['net_peak_gb']:8.2f}" if "net_peak_gb" in measured else f"{'-':>8s}"
        print(f"{name:28s} {state} {total} {peak}  {config.label()}; {how}", flush=True)
    print(
        "state GB: optimiser state; exact GB: trained weights + gradients held at once + state"
        " + resident pretrained pair + VAE (from tensor sizes); peak GB: measured peak RSS"
        " minus the RSS after imports (adds activations and allocator overhead)"
    )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())
