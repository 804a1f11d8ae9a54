"""Contrastive training of the toy CLIP on rendered toy scenes.

Why the recipe looks like this: plain CLIP training learns "which colours / shapes
are present" but not which attribute belongs to which object or to the background.
Each base scene is therefore paired with a copy differing in exactly one attribute
(``toy.variants``), both go into the same batch with their captions, and every image
also meets one extra caption with one attribute swapped as a text-only negative.

Data is a pool of scenes pre-rendered once (deterministic from the seed, cached in
``out_dir`` so a resumed run skips it): mostly 64 x 64, some rendered non-square and
squashed to 64 x 64 by the model's own preprocessing, with striped backgrounds more
frequent than in the default scene distribution. Training seeds start at
``TRAIN_SEED_BASE``; evaluation uses seeds from ``HELD_OUT_SEED_BASE`` (disjoint).

Run: ``python -m sine_bench.toy.train_clip --out DIR [--steps N] [--quick]``; the
shipped weights are ``SHIPPED_SCHEDULE`` run in order into one directory
(``sine-bench toy train --stage clip`` does exactly that).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm
from transformers import CLIPTokenizer

from .clip import (
    CONFIG_FILE,
    MEAN,
    STD,
    TOKENIZER_DIR,
    WEIGHTS_FILE,
    create_toy_clip_model,
    preprocess,
    tokenize,
    write_model_config,
)
from .scenes import Scene, random_scene, render
from .train import save_atomic
from .variants import KINDS, change_one_attribute
from .vocab import write_toy_tokenizer

TRAIN_SEED_BASE = 1_000_000
HELD_OUT_SEED_BASE = 9_000_000
CANVASES = ((64, 64),) * 6 + ((64, 96), (96, 64), (64, 128), (80, 48))  # (h, w), mostly square
STRIPED_PROB = 0.3
# Which attribute a training pair / text negative changes, weighted per variants.KINDS
# (color, shape, size, background, texture): shape is the attribute contrastive
# training binds last, so it gets the most hard negatives.
SHIPPED_KIND_WEIGHTS = (1.0, 3.0, 1.5, 0.5, 0.5)
# The shipped weights: one cosine cycle of 1,500 steps, then resumed with a 3,000-step
# horizon (a warm restart of the learning rate), on 10,000 scene pairs.
SHIPPED_SCHEDULE = (1500, 3000)
SHIPPED_PAIRS = 10_000


def render_01(scene, height: int, width: int) -> torch.Tensor:
    """A scene as a (3, height, width) float image in [0, 1]."""
    return torch.from_numpy(render(scene, height, width)).permute(2, 0, 1).float() / 255.0


def to_model_size(image01: torch.Tensor) -> torch.Tensor:
    """Squash any render to 64 x 64 uint8 with the model's own resize (stored compactly)."""
    x = preprocess(image01[None])[0]
    x = x * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def pick_kind(rng: random.Random, kind_weights: tuple[float, ...] | None) -> str | None:
    """The attribute kind to change: None (uniform, chosen inside the variant) or weighted.

    Weighting lets a training phase show more of the pairs the model is worst at
    (shape, in practice) without changing what a pair is.
    """
    if kind_weights is None:
        return None
    if len(kind_weights) != len(KINDS):
        raise ValueError(f"kind_weights needs {len(KINDS)} weights ({', '.join(KINDS)})")
    return rng.choices(KINDS, weights=kind_weights)[0]


def build_pool(
    n_pairs: int,
    seed: int,
    show_progress: bool = True,
    kind_weights: tuple[float, ...] | None = None,
) -> dict:
    """``n_pairs`` (scene, one-attribute variant) pairs rendered at mixed canvas sizes."""
    rng = random.Random(seed)
    base, variant, scenes, variants = [], [], [], []
    for i in tqdm(range(n_pairs), desc="rendering pool", disable=not show_progress):
        h, w = rng.choice(CANVASES)
        scene = random_scene(TRAIN_SEED_BASE + i, aspect=w / h, striped_prob=STRIPED_PROB)
        other = change_one_attribute(scene, rng, pick_kind(rng, kind_weights))
        base.append(to_model_size(render_01(scene, h, w)))
        variant.append(to_model_size(render_01(other, h, w)))
        scenes.append(scene.to_dict())
        variants.append(other.to_dict())
    return {
        "base": torch.stack(base),
        "variant": torch.stack(variant),
        "scenes": scenes,
        "variants": variants,
    }


def augment(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mild blur and noise so the model also reads imperfect (generated) images.

    No flips or crops: captions list objects left to right and must stay true.
    """
    n = images.shape[0]
    blur = torch.rand(n, generator=gen) < 0.3
    if blur.any():
        small = F.interpolate(
            images[blur], scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False
        )
        images[blur] = F.interpolate(
            small, size=images.shape[-2:], mode="bilinear", align_corners=False
        )
    sigma = 0.03 * torch.rand(n, 1, 1, 1, generator=gen)
    return (images + sigma * torch.randn(images.shape, generator=gen)).clamp(0, 1)


def contrastive_loss(
    img: torch.Tensor,
    txt: torch.Tensor,
    n_images: int,
    captions: list[str],
    logit_scale: torch.Tensor,
) -> torch.Tensor:
    """Symmetric InfoNCE; texts beyond ``n_images`` are text-only negatives.

    Identical captions in a batch (two scenes can share one) are all positives, so
    the targets are spread evenly over them instead of penalising a correct match.
    """
    logits = logit_scale.exp().clamp(max=100) * img @ txt.T  # (n_images, n_texts)
    same = torch.tensor(
        [[a == b for b in captions] for a in captions[:n_images]], dtype=torch.float32
    )
    i2t = -(F.log_softmax(logits, dim=1) * same / same.sum(1, keepdim=True)).sum(1).mean()
    t_same = same[:, :n_images].T
    t2i = (
        -(F.log_softmax(logits[:, :n_images].T, dim=1) * t_same / t_same.sum(1, keepdim=True))
        .sum(1)
        .mean()
    )
    return (i2t + t2i) / 2


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def _batch(
    pool: dict, scenes, size: int, step: int, seed: int, kind_weights: tuple[float, ...] | None
):
    """Deterministic batch for ``step``: pairs, their captions and text-only negatives."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    idx = torch.randperm(pool["base"].shape[0], generator=gen)[:size].tolist()
    images = torch.cat([pool["base"][idx], pool["variant"][idx]]).float() / 255.0
    rng = random.Random(seed * 1_000_003 + step)
    captions = [scenes[0][i].caption() for i in idx] + [scenes[1][i].caption() for i in idx]
    negatives = [
        change_one_attribute(scenes[0][i], rng, pick_kind(rng, kind_weights)).caption() for i in idx
    ]
    return augment(images, gen), captions + negatives


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    other = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]


def train_toy_clip(
    out_dir: str | Path,
    steps: int = 1500,
    batch_size: int = 64,
    seed: int = 0,
    quick: bool = False,
    lr: float = 1e-3,
    n_pairs: int = SHIPPED_PAIRS,
    show_progress: bool = True,
    kind_weights: tuple[float, ...] | None = SHIPPED_KIND_WEIGHTS,
) -> Path:
    """Train (or resume) the toy CLIP into ``out_dir``; returns the weights directory.

    ``batch_size`` counts scene pairs: each step sees 2 x batch_size images and
    3 x batch_size captions. ``quick`` shrinks the pool for a smoke run.
    ``kind_weights`` (one per ``variants.KINDS``) skews which attribute pairs and
    text negatives change; None is uniform. Steps up to a resumed checkpoint keep
    whatever weights they were trained with.
    """
    torch.manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if quick:
        n_pairs = min(n_pairs, 4 * batch_size)
    tok_dir = out / TOKENIZER_DIR
    if not (tok_dir / "vocab.json").exists():  # deterministic; a resumed run reuses it
        write_toy_tokenizer(tok_dir, model_max_length=77)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    config_file = out / CONFIG_FILE  # a resumed run keeps the architecture it started with
    if not config_file.exists():
        write_model_config(out, vocab_size=len(tokenizer))
    model = create_toy_clip_model(config_file)
    optimizer = torch.optim.AdamW(_param_groups(model, 0.1), lr=lr, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, steps, warmup))

    tag = "" if kind_weights is None else "-w" + "-".join(f"{w:g}" for w in kind_weights)
    pool_file = out / f"pool-{n_pairs}-{seed}{tag}.pt"
    if pool_file.exists():
        pool = torch.load(pool_file, weights_only=True)
    else:
        pool = build_pool(n_pairs, seed, show_progress, kind_weights)
        if not quick:
            save_atomic(pool, pool_file)
    scenes = (
        [Scene.from_dict(d) for d in pool["scenes"]],
        [Scene.from_dict(d) for d in pool["variants"]],
    )

    ckpt_file, start, elapsed = out / "checkpoint.pt", 0, 0.0
    if ckpt_file.exists():
        ckpt = torch.load(ckpt_file, weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start, elapsed = ckpt["step"], ckpt.get("elapsed_s", 0.0)

    model.train()
    t0 = time.perf_counter()
    bar = tqdm(
        range(start, steps), desc="toy clip", initial=start, total=steps, disable=not show_progress
    )
    for step in bar:
        images, captions = _batch(pool, scenes, batch_size, step, seed, kind_weights)
        img = model.encode_image(preprocess(images), normalize=True)
        txt = model.encode_text(tokenize(tokenizer, captions), normalize=True)
        loss = contrastive_loss(img, txt, images.shape[0], captions, model.logit_scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{model.logit_scale.exp().item():.1f}")
        done = step + 1
        if done % 100 == 0 or done == steps:
            save_atomic(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": done,
                    "elapsed_s": elapsed + time.perf_counter() - t0,
                },
                ckpt_file,
            )
    elapsed += time.perf_counter() - t0

    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, out / WEIGHTS_FILE)
    info = {
        "steps": steps,
        "batch_size_pairs": batch_size,
        "seed": seed,
        "lr": lr,
        "n_pairs": n_pairs,
        "kind_weights": dict(zip(KINDS, kind_weights, strict=True)) if kind_weights else None,
        "quick": quick,
        "train_seconds": round(elapsed, 1),
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in model.parameters()),
    }
    (out / "train_info.json").write_text(json.dumps(info, indent=2))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=SHIPPED_SCHEDULE[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=SHIPPED_PAIRS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--kind-weights",
        type=float,
        nargs=len(KINDS),
        default=SHIPPED_KIND_WEIGHTS,
        help=f"weights of the changed attribute, in the order {' '.join(KINDS)}",
    )
    parser.add_argument(
        "--uniform-kinds", action="store_true", help="change every attribute kind equally often"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = None if args.uniform_kinds else tuple(args.kind_weights)
    train_toy_clip(
        args.out,
        args.steps,
        args.batch_size,
        args.seed,
        args.quick,
        n_pairs=args.pairs,
        kind_weights=weights,
    )


if __name__ == "__main__":
    main()
