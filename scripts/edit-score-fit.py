"""Choose the joint edit score's form and constants on the fit run only (docs/edit-score.md).

Usage: python scripts/edit-score-fit.py runs/edit-score-fit [--out results/edit-score/fit]

Reads the fit run (protocols/edit-score-fit.yaml: scenes no evaluation uses) and scores
every candidate against ``oracle_faithful``: its AUROC over cells and the Spearman of
its per-setting means with the faithful rate, each with an interval over source
images. Candidates combine an alignment term (clip_t or clip_dir) with a fidelity term
(LPIPS alex / vgg, PSNR, SSIM, or a self-similarity structure distance of an LPIPS
backbone's features), either on the raw scales (constants fitted here: they hold for
the toy backbones only) or calibrated without labels by each cell's own references:
the source image (no edit) and the pretrained-only sample of the same prompt, seed and
size (a regeneration), optionally also the fine-tuned-only sample (v = 0, K = 0).
Writes fit.md and fit.csv. Nothing here reads a held-out run.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from sine_bench.report.score_validity import setting_rank_estimate
from sine_bench.report.validity import auroc_estimate

KEYS = ["item", "prompt_index", "seed", "resolution"]
LAMBDAS = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]


def _load(path: Path) -> torch.Tensor:
    array = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None]


def _features(metric, x01: torch.Tensor) -> list[torch.Tensor]:
    """The LPIPS backbone's layer activations (the inputs of its linear heads)."""
    lp = metric.net
    x = x01 * 2 - 1
    x = lp.scaling_layer(x) if getattr(lp, "version", "0.1") == "0.1" else x
    return list(lp.net.forward(x))


def _selfsim(feature: torch.Tensor) -> torch.Tensor:
    f = feature.flatten(2)[0]
    f = f / (f.norm(dim=0, keepdim=True) + 1e-8)
    return f.T @ f


def extra_columns(run: Path, cells: pd.DataFrame, cache: Path) -> pd.DataFrame:
    """Per cell: clip_t of the source with the edit prompt (the no-edit anchor) and the
    self-similarity structure distance per LPIPS net and layer (cached in ``cache``)."""
    if cache.is_file():
        return pd.read_csv(cache)
    from sine_bench.metrics.lpips_backend import load_lpips
    from sine_bench.toy.clip import load_toy_clip

    clip = load_toy_clip()
    nets = {n: load_lpips(net=n) for n in ("alex", "vgg")}
    sources, src_sims = {}, {}
    rows = []
    with torch.no_grad():
        for item in sorted(cells["item"].unique()):
            sources[item] = _load(run / "images" / "source" / f"{item}.png")
            src_sims[item] = {
                n: [
                    _selfsim(t) if n != "vgg" or k else None
                    for k, t in enumerate(_features(m, sources[item]))
                ]
                for n, m in nets.items()
            }
        prompts = cells[["item", "prompt"]].drop_duplicates()
        c_src = {}
        for item, group in prompts.groupby("item"):
            img = clip.encode_images(sources[item]).float()
            txt = clip.encode_texts(list(group["prompt"])).float()
            for prompt, value in zip(group["prompt"], (100 * img @ txt.T)[0].tolist(), strict=True):
                c_src[(item, prompt)] = value
        for _, cell in cells.iterrows():
            edit = _load(run / cell["image"])
            row = {"cell_id": cell["cell_id"], "c_src": c_src[(cell["item"], cell["prompt"])]}
            for n, m in nets.items():
                for k, t in enumerate(_features(m, edit)):
                    if n == "vgg" and k == 0:
                        continue  # 64 x 64 tokens: a 4096^2 matrix per image, too slow here
                    ref = src_sims[cell["item"]][n][k]
                    row[f"ssd_{n}{k}"] = float(((_selfsim(t) - ref) ** 2).mean())
            rows.append(row)
    out = pd.DataFrame(rows)
    cache.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(cache, index=False)
    return out


def with_anchors(cells: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Add each cell's paired references (same item, prompt, seed, size): ``_pt`` from
    the pretrained-only cell (v = 1, K = 0), ``_ft`` from the fine-tuned-only one
    (v = 0, K = 0); ``_ptm`` / ``_ftm``: the same averaged over seeds."""
    pt = cells[(cells.v == 1.0) & (cells.K == 0)].set_index(KEYS)[columns]
    ft = cells[(cells.v == 0.0) & (cells.K == 0)].set_index(KEYS)[columns]
    out = cells.join(pt.add_suffix("_pt"), on=KEYS).join(ft.add_suffix("_ft"), on=KEYS)
    other = [k for k in KEYS if k != "seed"]
    ptm = pt.groupby(level=other).mean().add_suffix("_ptm")
    ftm = ft.groupby(level=other).mean().add_suffix("_ftm")
    return out.join(ptm, on=other).join(ftm, on=other)


def unit(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def ratio(num: np.ndarray, den: np.ndarray, floor: float) -> np.ndarray:
    return num / np.maximum(den, floor)


def alignment_terms(d: pd.DataFrame, clip: str) -> dict[str, np.ndarray]:
    """Alignment progress of each cell: 0 at the no-edit anchor, 1 at the regeneration."""
    c = d[clip].to_numpy(float)
    terms = {
        "src-pt": ratio(c - d["c_src"], d[f"{clip}_pt"] - d["c_src"], 1.0),
        "src-ptm": ratio(c - d["c_src"], d[f"{clip}_ptm"] - d["c_src"], 1.0),
        "ft-pt": ratio(c - d[f"{clip}_ft"], d[f"{clip}_pt"] - d[f"{clip}_ft"], 1.0),
        "ftm-ptm": ratio(c - d[f"{clip}_ftm"], d[f"{clip}_ptm"] - d[f"{clip}_ftm"], 1.0),
    }
    return {k: np.asarray(v, float) for k, v in terms.items()}


def fidelity_terms(d: pd.DataFrame, dist: str) -> dict[str, np.ndarray]:
    """Fidelity of each cell for a distance to the source: 1 at the source (distance
    0) or at the fine-tuned-only sample, 0 at the pretrained-only sample's distance."""
    x = d[dist].to_numpy(float)
    eps = 1e-6
    terms = {
        "src-pt": 1 - ratio(x, d[f"{dist}_pt"], eps),
        "src-ptm": 1 - ratio(x, d[f"{dist}_ptm"], eps),
        "ft-pt": ratio(d[f"{dist}_pt"] - x, d[f"{dist}_pt"] - d[f"{dist}_ft"], eps),
        "ftm-ptm": ratio(d[f"{dist}_ptm"] - x, d[f"{dist}_ptm"] - d[f"{dist}_ftm"], eps),
    }
    return {k: np.asarray(v, float) for k, v in terms.items()}


def evaluate(d: pd.DataFrame, score: np.ndarray) -> dict:
    truth = d["oracle_faithful"].to_numpy(float) >= 1 - 1e-9
    ok = np.isfinite(score)
    clusters = d["item"].to_numpy()[ok]
    auc = auroc_estimate(score[ok], truth[ok], clusters.tolist())
    settings = d[["v", "K"]].astype(str).agg("|".join, axis=1).to_numpy()[ok]
    rho = setting_rank_estimate(score[ok], truth[ok].astype(float), settings, clusters.tolist())
    return {
        "auroc": auc.value,
        "auroc_lo": auc.lo,
        "auroc_hi": auc.hi,
        "setting_rho": rho.value,
        "rho_lo": rho.lo,
        "rho_hi": rho.hi,
        "finite": int(ok.sum()),
    }


def candidates(d: pd.DataFrame, distances: list[str]):
    """(name, family, score) for every candidate; ``family`` groups what is compared."""
    for clip, dist in itertools.product(["clip_t[toy]", "clip_dir[toy]"], distances):
        c = d[clip].to_numpy(float)
        x = d[dist].to_numpy(float)
        # raw scales: rank-equivalent to a logistic fit on the two metrics
        sx = np.nanstd(x)
        sc = np.nanstd(c)
        for lam in LAMBDAS:
            yield f"raw linear {clip} - {lam:g}*z({dist})", "raw", c / sc - lam * x / sx
        # raw min / product on fit-set quantile scales (toy constants)
        a = unit((c - np.nanpercentile(c, 5)) / (np.nanpercentile(c, 95) - np.nanpercentile(c, 5)))
        f = unit((np.nanpercentile(x, 95) - x) / (np.nanpercentile(x, 95) - np.nanpercentile(x, 5)))
        yield f"raw min {clip}, {dist}", "raw", np.minimum(a, f)
        yield f"raw product {clip}, {dist}", "raw", a * f
        if clip != "clip_t[toy]":
            continue  # calibrated forms: clip_t only (clip_dir has no no-edit anchor)
        al = alignment_terms(d, clip)
        fi = fidelity_terms(d, dist)
        for anchor in al:
            a, f = al[anchor], fi[anchor]
            yield f"cal {anchor} min(a, f) {dist}", f"cal-{anchor}", np.minimum(unit(a), unit(f))
            yield f"cal {anchor} a*f {dist}", f"cal-{anchor}", unit(a) * unit(f)
            for lam in LAMBDAS:
                yield f"cal {anchor} a + {lam:g}f {dist}", f"cal-{anchor}", unit(a) + lam * unit(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/edit-score/fit"))
    args = parser.parse_args()
    cells = pd.read_csv(args.run / "cells.csv")
    extra = extra_columns(args.run, cells, args.out / "extra.csv")
    cells = cells.merge(extra, on="cell_id")
    lpips = [c for c in cells.columns if "lpips[" in c and c.split("[")[0] in ("lpips", "st_lpips")]
    ssd = [c for c in cells.columns if c.startswith("ssd_")]
    cells["1-ssim"] = 1 - cells["ssim"]
    cells["-psnr"] = -cells["psnr"]
    distances = [*lpips, *ssd, "1-ssim", "-psnr"]
    anchored = ["clip_t[toy]", "clip_dir[toy]", *distances]
    d = with_anchors(cells, anchored)
    rows = []
    single = ["clip_t[toy]", "clip_dir[toy]", "clip_i[toy]", *lpips, "psnr", "ssim"]
    single += ["psnr_masked", "ssim_masked", *ssd]
    for metric in single:
        sign = -1.0 if ("lpips" in metric or metric.startswith("ssd_")) else 1.0
        score = sign * d[metric].to_numpy(float)
        rows.append({"name": metric, "family": "single"} | evaluate(d, score))
    for name, fam, score in candidates(d, distances):
        rows.append({"name": name, "family": fam} | evaluate(d, np.asarray(score, float)))
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "fit.csv", index=False)
    faithful = d["oracle_faithful"].mean()
    lines = [
        f"# Edit score fit: {args.run} ({len(d)} cells, {d['item'].nunique()} images, "
        f"faithful rate {faithful:.3f})",
        "",
    ]
    for fam, group in table.groupby("family", sort=False):
        best = group.sort_values("auroc", ascending=False).head(12)
        lines += [f"## {fam}", "", "| candidate | AUROC | interval | setting rho | interval |"]
        lines += ["|---|---|---|---|---|"]
        for _, r in best.iterrows():
            lines.append(
                f"| {r['name']} | {r.auroc:.3f} | [{r.auroc_lo:.3f}, {r.auroc_hi:.3f}] | "
                f"{r.setting_rho:.3f} | [{r.rho_lo:.3f}, {r.rho_hi:.3f}] |"
            )
        lines.append("")
    (args.out / "fit.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
