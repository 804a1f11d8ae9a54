"""The toy model's training recipe: VAE, then UNet + text encoder on cached latents.

Every stage is resumable (a checkpoint is written atomically every few hundred
steps and picked up on restart) and deterministic from the recipe's seed. The
result is a diffusers StableDiffusionPipeline directory, the same format as a real
checkpoint, so ``model: toy`` goes through the same loading code.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .architecture import IMAGE_SIZE, parameter_count, toy_text_encoder, toy_unet, toy_vae
from .data import render_scenes, to_tensor


@dataclass(frozen=True)
class ToyRecipe:
    """All the knobs of the toy model's training; the defaults are the shipped model's."""

    seed: int = 0
    n_scenes: int = 30_000
    vae_steps: int = 3000
    vae_full_steps: int = 400  # the last steps on whole images; before that, random crops
    vae_crop: int = 32
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_lr_min: float = 1e-4
    vae_kl_weight: float = 1e-6
    unet_steps: int = 2500
    unet_batch: int = 32
    unet_lr: float = 1e-3
    unet_lr_min: float = 1e-4
    unet_warmup: int = 200
    # Further cosine cycles (warm restarts), each (steps, peak lr, floor lr), continuing
    # from the previous cycle's end state.
    unet_restarts: tuple[tuple[int, float, float], ...] = ((1500, 3e-4, 3e-5), (3000, 4e-4, 2e-5))
    ema_decay: float = 0.995
    caption_dropout: float = 0.1
    checkpoint_every: int = 250
    threads: int = 2

    @classmethod
    def quick(cls) -> ToyRecipe:
        """A few-minute smoke run of every stage (CI): same code, tiny budget."""
        return cls(
            n_scenes=256,
            vae_steps=20,
            vae_full_steps=5,
            unet_steps=20,
            unet_warmup=5,
            unet_restarts=((5, 3e-4, 3e-5),),
            checkpoint_every=10,
        )

    @property
    def unet_total_steps(self) -> int:
        return self.unet_steps + sum(cycle[0] for cycle in self.unet_restarts)


def _cosine_with_warmup(
    optimizer,
    steps: int,
    warmup: int,
    lr: float,
    lr_min: float,
    restarts: tuple[tuple[int, float, float], ...] = (),
):
    """Linear warm-up to lr, then cosine decay to lr_min (the decay makes conditioning work);
    then optional further cosine cycles (steps, peak, floor): warm restarts."""

    def cosine(progress: float, hi: float, lo: float) -> float:
        return lo + (hi - lo) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        if step < steps:
            return cosine((step - warmup) / max(steps - warmup, 1), lr, lr_min) / lr
        start, hi, lo = steps, lr, lr_min
        for extra, hi, lo in restarts:
            if step < start + extra:
                return cosine((step - start) / max(extra, 1), hi, lo) / lr
            start += extra
        return lo / lr

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def save_atomic(state: dict, path: Path) -> None:
    """torch.save via a temporary file: a kill mid-write never leaves a torn checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _save_checkpoint(path: Path, stateful: dict, generator: torch.Generator, step: int) -> None:
    """Every object's state_dict (by name), the RNG states and the step, written atomically."""
    state = {name: obj.state_dict() for name, obj in stateful.items()}
    state["rng"] = {"torch": generator.get_state(), "python": random.getstate()}
    state["step"] = step
    save_atomic(state, path)


def _load_checkpoint(path: Path, stateful: dict, generator: torch.Generator) -> int:
    """Restore what _save_checkpoint wrote (if the file exists); the step to resume at."""
    if not path.exists():
        return 0
    state = torch.load(path, weights_only=True)  # tensors, numbers, strings only
    for name, obj in stateful.items():
        obj.load_state_dict(state[name])
    generator.set_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    return state["step"]


def train_vae(recipe: ToyRecipe, work: Path, images: torch.Tensor, progress: bool = True):
    """L1 + 0.5 MSE + small KL autoencoder training; returns the trained VAE."""
    torch.manual_seed(recipe.seed)
    vae = toy_vae()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=recipe.vae_lr, weight_decay=0.0)
    scheduler = _cosine_with_warmup(
        optimizer, recipe.vae_steps, 50, recipe.vae_lr, recipe.vae_lr_min
    )
    generator = torch.Generator().manual_seed(recipe.seed)
    ckpt = work / "checkpoints" / "vae.pt"
    stateful = {"model": vae, "optimizer": optimizer, "scheduler": scheduler}
    start = _load_checkpoint(ckpt, stateful, generator)
    vae.train()
    bar = tqdm(
        range(start, recipe.vae_steps),
        desc="toy VAE",
        disable=not progress,
        initial=start,
        total=recipe.vae_steps,
    )
    for step in bar:
        idx = torch.randint(0, images.shape[0], (recipe.vae_batch,), generator=generator)
        x = images[idx]
        if torch.rand(1, generator=generator).item() < 0.5:  # flips: cheap extra variety
            x = x.flip(-1)
        if step < recipe.vae_steps - recipe.vae_full_steps:
            # The VAE is convolutional: crops teach it 4x cheaper, whole images finish it.
            c = recipe.vae_crop
            oy, ox = torch.randint(0, x.shape[-1] - c + 1, (2,), generator=generator).tolist()
            x = x[..., oy : oy + c, ox : ox + c]
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
        recon = vae.decode(z).sample
        loss = (
            F.l1_loss(recon, x)
            + 0.5 * F.mse_loss(recon, x)
            + recipe.vae_kl_weight * posterior.kl().mean()
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % recipe.checkpoint_every == 0 or step + 1 == recipe.vae_steps:
            _save_checkpoint(ckpt, stateful, generator, step + 1)
    vae.eval().requires_grad_(False)
    return vae


@torch.no_grad()
def encode_latents(vae, images: torch.Tensor, batch: int = 256, progress: bool = True):
    """Posterior mean and std of every training image, and SD's latent scaling factor."""
    means, stds = [], []
    for i in tqdm(range(0, images.shape[0], batch), desc="encoding latents", disable=not progress):
        dist = vae.encode(images[i : i + batch]).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
    mean, std = torch.cat(means), torch.cat(stds)
    scaling = 1.0 / float(torch.sqrt((mean**2).mean() + (std**2).mean() - mean.mean() ** 2))
    return mean, std, scaling


def train_unet(
    recipe: ToyRecipe,
    work: Path,
    latents: tuple,
    captions: list[str],
    tokenizer,
    scaling: float,
    progress: bool = True,
):
    """Joint UNet + text encoder training on cached latents, with EMA; returns EMA models."""
    from diffusers.training_utils import EMAModel

    from ..sine.components import sd_ddim_scheduler

    torch.manual_seed(recipe.seed + 1)
    unet = toy_unet()
    text_encoder = toy_text_encoder(len(tokenizer))
    params = list(unet.parameters()) + list(text_encoder.parameters())
    ema = EMAModel(params, decay=recipe.ema_decay)
    optimizer = torch.optim.AdamW(params, lr=recipe.unet_lr, weight_decay=0.01)
    scheduler = _cosine_with_warmup(
        optimizer,
        recipe.unet_steps,
        recipe.unet_warmup,
        recipe.unet_lr,
        recipe.unet_lr_min,
        recipe.unet_restarts,
    )
    total = recipe.unet_total_steps
    noise_schedule = sd_ddim_scheduler()
    generator = torch.Generator().manual_seed(recipe.seed + 1)
    mean, std = latents
    ids = tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    empty = tokenizer(
        [""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt"
    ).input_ids
    ckpt = work / "checkpoints" / "unet.pt"
    stateful = {
        "unet": unet,
        "text_encoder": text_encoder,
        "ema": ema,
        "optimizer": optimizer,
        "scheduler": scheduler,
    }
    start = _load_checkpoint(ckpt, stateful, generator)
    unet.train()
    text_encoder.train()
    bar = tqdm(
        range(start, total),
        desc="toy UNet+text",
        disable=not progress,
        initial=start,
        total=total,
    )
    for step in bar:
        idx = torch.randint(0, mean.shape[0], (recipe.unet_batch,), generator=generator)
        eps0 = torch.randn(mean[idx].shape, generator=generator)
        x0 = (mean[idx] + std[idx] * eps0) * scaling
        batch_ids = ids[idx].clone()
        drop = torch.rand(recipe.unet_batch, generator=generator) < recipe.caption_dropout
        batch_ids[drop] = empty[0]
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(
            0, noise_schedule.config.num_train_timesteps, (recipe.unet_batch,), generator=generator
        )
        z_t = noise_schedule.add_noise(x0, noise, t)
        pred = unet(z_t, t, text_encoder(batch_ids)[0]).sample
        loss = F.mse_loss(pred, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        ema.step(params)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
        if (step + 1) % recipe.checkpoint_every == 0 or step + 1 == total:
            _save_checkpoint(ckpt, stateful, generator, step + 1)
    ema.copy_to(params)
    unet.eval().requires_grad_(False)
    text_encoder.eval().requires_grad_(False)
    return unet, text_encoder


def export_pipeline(
    vae, unet, text_encoder, tokenizer, out: Path, recipe: ToyRecipe, timings: dict
) -> None:
    """Write the diffusers pipeline dir (fp16 weights, loaded back as fp32) + recipe record."""
    from diffusers import StableDiffusionPipeline

    from ..sine.components import sd_ddim_scheduler

    pipe = StableDiffusionPipeline(
        vae=vae.half(),
        text_encoder=text_encoder.half(),
        tokenizer=tokenizer,
        unet=unet.half(),
        scheduler=sd_ddim_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    tmp = out.with_name(out.name + ".tmp")
    pipe.save_pretrained(str(tmp))
    record = {
        "recipe": asdict(recipe),
        "timings_s": timings,
        "parameters": {
            "vae": parameter_count(vae),
            "unet": parameter_count(unet),
            "text_encoder": parameter_count(text_encoder),
        },
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    (tmp / "toy_recipe.json").write_text(json.dumps(record, indent=2))
    if out.exists():
        import shutil

        shutil.rmtree(out)
    os.replace(tmp, out)
    for module in (vae, unet, text_encoder):
        module.float()


def train_toy_model(
    out: str | Path,
    recipe: ToyRecipe | None = None,
    work: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Run the whole recipe into ``out`` (a diffusers dir); ``work`` holds resumable state."""
    from transformers import CLIPTokenizer

    from .vocab import write_toy_tokenizer

    recipe = recipe or ToyRecipe()
    out = Path(out)
    work = Path(work) if work else out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(recipe.threads)
    timings = {}

    t0 = time.perf_counter()
    images_u8, captions = render_scenes(recipe.n_scenes, size=IMAGE_SIZE, progress=progress)
    images = to_tensor(images_u8)
    timings["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    vae = train_vae(recipe, work, images, progress)
    timings["vae"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    mean, std, scaling = encode_latents(vae, images, progress=progress)
    vae.register_to_config(scaling_factor=scaling)
    timings["latents"] = time.perf_counter() - t0

    tokenizer = CLIPTokenizer.from_pretrained(write_toy_tokenizer(work / "tokenizer"))
    t0 = time.perf_counter()
    unet, text_encoder = train_unet(
        recipe, work, (mean, std), captions, tokenizer, scaling, progress
    )
    timings["unet"] = time.perf_counter() - t0
    export_pipeline(vae, unet, text_encoder, tokenizer, out, recipe, timings)
    return {"out": str(out), "timings_s": timings, "scaling_factor": scaling}


def with_overrides(recipe: ToyRecipe, **overrides) -> ToyRecipe:
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
