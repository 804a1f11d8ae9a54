"""How far the toy world's evaluators can be trusted, measured on held-out scenes.

Everything is computed from freshly rendered held-out scenes (seeds from
``HELD_OUT_SEED_BASE``, never used in training), nothing is read from a file:

- ``clip_retrieval_top1``: for each image, is its own caption the best-scoring of
  ``n_candidates`` (100) captions of held-out scenes (its own among them)? Bar >= 0.8.
- ``clip_t_auroc``: AUROC of clip_t separating (image, its caption) from (image, its
  caption with one attribute changed: colour, shape, size or background). Bar >= 0.9.
- ``lpips_rank_rate``: fraction of scenes whose one-attribute change (recolour,
  reshape, resize or new background) is farther in LPIPS than a 1-2 px jitter of all
  objects. Bar >= 0.95, on the default backend (``st_lpips[alex]`` here). Also
  reported, without a bar, for the other shipped network (``lpips_rank_rate_vgg``...):
  which LPIPS a toy protocol should name depends on it.

Run: ``python -m sine_bench.toy.evaluator_quality [--n 200]`` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random

import torch

from .clip import ToyClip, load_toy_clip
from .scenes import Scene, random_scene, render
from .train_clip import HELD_OUT_SEED_BASE
from .variants import change_one_attribute, jitter

SWAP_KINDS = ("color", "shape", "size", "background")
BARS = {"clip_retrieval_top1": 0.8, "clip_t_auroc": 0.9, "lpips_rank_rate": 0.95}


def _images(scenes: list[Scene], height: int = 64, width: int = 64) -> torch.Tensor:
    arrays = [torch.from_numpy(render(s, height, width)) for s in scenes]
    return torch.stack(arrays).permute(0, 3, 1, 2).float() / 255.0


def held_out_scenes(n: int, offset: int = 0) -> list[Scene]:
    return [random_scene(HELD_OUT_SEED_BASE + offset + i) for i in range(n)]


def auroc(positives: torch.Tensor, negatives: torch.Tensor) -> float:
    """P(random positive > random negative), ties counting half (Mann-Whitney)."""
    diff = positives.reshape(-1, 1) - negatives.reshape(1, -1)
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())


def retrieval_top1(clip: ToyClip, n: int, n_candidates: int = 100) -> float:
    """Top-1 caption retrieval, in blocks of ``n_candidates`` held-out scenes."""
    hits, done, block = 0, 0, 0
    while done < n:
        scenes = held_out_scenes(n_candidates, offset=block * n_candidates)
        captions = [s.caption() for s in scenes]
        take = min(n - done, n_candidates)
        img = clip.encode_images(_images(scenes[:take]))
        txt = clip.encode_texts(captions)
        best = (img @ txt.T).argmax(dim=1).tolist()
        hits += sum(captions[j] == captions[i] for i, j in enumerate(best))  # equal text = hit
        done, block = done + take, block + 1
    return hits / n


def swap_auroc(clip: ToyClip, n: int, seed: int = 0) -> dict[str, float]:
    """clip_t AUROC of true vs one-attribute-swapped captions, overall and per kind."""
    rng = random.Random(seed)
    scenes = held_out_scenes(n)
    images = _images(scenes)
    pos = clip.score(images, [s.caption() for s in scenes])
    out, all_neg, paired = {}, [], []
    for kind in SWAP_KINDS:
        neg = clip.score(images, [change_one_attribute(s, rng, kind).caption() for s in scenes])
        out[f"clip_t_auroc_{kind}"] = auroc(pos, neg)
        all_neg.append(neg)
        paired.append(pos > neg)
    out["clip_t_auroc"] = auroc(pos, torch.cat(all_neg))
    out["clip_t_pair_accuracy"] = float(torch.cat(paired).float().mean())
    return out


def lpips_ranking(metric, n: int, seed: int = 0) -> dict[str, float]:
    """Fraction of scenes where a one-attribute change is farther than a 1-2 px jitter.

    Also reported, not part of the bar: the same against a sub-pixel (0.25-0.75 px)
    jitter, which shows how much of the shortfall is the jitter's size.
    """
    rng = random.Random(seed + 1)
    scenes = held_out_scenes(n)
    base = _images(scenes)
    jittered = metric(base, _images([jitter(s, rng, 64, 64) for s in scenes]))
    subpixel = metric(base, _images([jitter(s, rng, 64, 64, 0.25, 0.75) for s in scenes]))
    out = {"lpips_mean_jitter": float(jittered.mean())}
    wins, sub_wins = [], []
    for kind in SWAP_KINDS:
        changed = metric(base, _images([change_one_attribute(s, rng, kind) for s in scenes]))
        out[f"lpips_rank_rate_{kind}"] = float((changed > jittered).float().mean())
        out[f"lpips_mean_{kind}"] = float(changed.mean())
        wins.append(changed > jittered)
        sub_wins.append(changed > subpixel)
    out["lpips_rank_rate"] = float(torch.cat(wins).float().mean())
    out["lpips_rank_rate_subpixel"] = float(torch.cat(sub_wins).float().mean())
    return out


def evaluator_quality(
    n: int = 200,
    clip: ToyClip | None = None,
    lpips=None,
    seed: int = 0,
    other_lpips_nets: tuple[str, ...] = ("vgg",),
) -> dict:
    """All evaluator-quality numbers on ``n`` held-out scenes (a few for a smoke test).

    ``other_lpips_nets`` are measured on the same pairs and reported with a ``_NET``
    suffix (``lpips_rank_rate_vgg``); the bar applies to ``lpips`` (default: alex).
    """
    from ..metrics.lpips_backend import load_lpips

    clip = clip or load_toy_clip()
    lpips = lpips or load_lpips()
    result: dict = {
        "n": n,
        "lpips_backend": lpips.name,
        "clip_retrieval_top1": retrieval_top1(clip, n),
    }
    result.update(swap_auroc(clip, n, seed))
    result.update(lpips_ranking(lpips, n, seed))
    for net in other_lpips_nets:
        other = load_lpips(net)
        result[f"lpips_backend_{net}"] = other.name
        ranking = lpips_ranking(other, n, seed)
        result.update({_with_suffix(k, net): v for k, v in ranking.items()})
    result["bars_met"] = all(result[k] >= v for k, v in BARS.items())
    return result


def _with_suffix(key: str, net: str) -> str:
    """lpips_rank_rate -> lpips_rank_rate_vgg; lpips_rank_rate_shape -> ..._vgg_shape."""
    for kind in (*SWAP_KINDS, "subpixel", "jitter"):
        if key.endswith("_" + kind):
            return f"{key[: -len(kind) - 1]}_{net}_{kind}"
    return f"{key}_{net}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="toy evaluator quality, as JSON")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--weights", default=None, help="toy CLIP weights dir (default: shipped)")
    args = parser.parse_args(argv)
    clip = load_toy_clip(weights_dir=args.weights)
    print(json.dumps(evaluator_quality(args.n, clip=clip), indent=2))


if __name__ == "__main__":
    main()
