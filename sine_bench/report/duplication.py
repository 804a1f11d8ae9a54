"""Claim (c): plain fine-tuning duplicates objects at non-square sizes, patch fine-tuning
fixes it. The oracle's object count against the caption's, per method and size, and a
paired comparison of the methods on matched cells whose test resamples source images.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .cells import ReproductionError, metric_column
from .stats import Estimate, cluster_bootstrap
from .trends import ALPHA


def caption_count(caption: str) -> float:
    """Objects a toy caption states (NaN for text the toy parser cannot read)."""
    from ..toy.oracle import parse_caption

    try:
        facts = parse_caption(caption)
    except Exception:  # not a toy caption (real prompts)
        return math.nan
    return float(len(facts.objects)) if facts.objects else math.nan


def extra_same_color_objects(image: np.ndarray, caption: str) -> float:
    """Objects the oracle reads beyond the caption's, counting only objects of a colour
    the caption gives an object: a duplicated object, not a background blotch (the
    oracle's raw count also picks up blotches of other colours on generated images)."""
    from ..toy.oracle import parse_caption, read_image

    try:
        wanted = Counter(color for _, color, _ in parse_caption(caption).objects if color)
    except Exception:
        return math.nan
    if not wanted:
        return math.nan
    got = Counter(o.color for o in read_image(image).objects)
    return float(sum(max(0, got[color] - n) for color, n in wanted.items()))


def _duplicates_from_images(cells: pd.DataFrame) -> pd.Series:
    """extra_same_color_objects per cell, read from the edit PNGs (NaN where missing)."""
    from PIL import Image

    values = []
    for _, row in cells.iterrows():
        path = Path(row["run_dir"]) / row["image"] if "run_dir" in row and "image" in row else None
        if path is None or not path.is_file():
            values.append(math.nan)
            continue
        with Image.open(path) as img:
            values.append(extra_same_color_objects(np.asarray(img.convert("RGB")), row["prompt"]))
    return pd.Series(values, index=cells.index, dtype=float)


def duplication_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per fine-tune method and output size: mean oracle count vs the caption's, the
    rate of cells with more objects than asked (duplication), edit success, fidelity."""
    count = metric_column(cells, "oracle_count")
    if count is None:
        raise ReproductionError("claim (c) needs oracle_count (toy world only)")
    data = _with_duplication(cells, count)
    extra = [
        c
        for f in ("oracle_edit_success", "oracle_preserved", "lpips", "clip_t")
        if (c := metric_column(data, f))
    ]
    settings = [c for c in ("v", "K", *fine_tune_axes(data)) if data[c].nunique() > 1]
    rows = []
    for values, group in data.groupby([*settings, "finetune.method", "size"], sort=True):
        row = dict(zip([*settings, "finetune.method", "size"], values, strict=True))
        row["n"] = len(group)
        row["caption_count"] = group["expected_count"].mean()
        row["oracle_count"] = group[count].mean()
        row["count_error"] = group["count_error"].mean()
        row["duplication_rate"] = group["duplicated"].mean()
        row["extra_same_color"] = group["extra_same_color"].mean()
        row["same_color_duplication_rate"] = group["duplicated_same_color"].mean()
        for column in extra:
            row[column] = group[column].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def fine_tune_axes(cells: pd.DataFrame) -> list[str]:
    """Swept fine-tune settings other than the method (e.g. ``finetune.steps``): cells
    compared across methods must agree on them."""
    return [
        c
        for c in cells.columns
        if c.startswith("finetune.") and c != "finetune.method" and cells[c].nunique() > 1
    ]


def _with_duplication(cells: pd.DataFrame, count: str) -> pd.DataFrame:
    data = cells.copy()
    data["expected_count"] = data["prompt"].map(caption_count)
    data["size"] = (
        data["height"].astype(int).astype(str) + "x" + data["width"].astype(int).astype(str)
    )
    data["count_error"] = (data[count] - data["expected_count"]).abs()
    data["duplicated"] = (data[count] > data["expected_count"]).astype(float)
    data.loc[data["expected_count"].isna(), ["count_error", "duplicated"]] = math.nan
    data["extra_same_color"] = _duplicates_from_images(data)
    data["duplicated_same_color"] = (data["extra_same_color"] > 0).astype(float)
    data.loc[data["extra_same_color"].isna(), "duplicated_same_color"] = math.nan
    return data


@dataclass
class PairedTest:
    """sine-patch vs sine-full on matched cells (same item, prompt, seed, size)."""

    sizes: str
    measure: str
    pairs: int
    full_rate: float
    patch_rate: float
    full_only: int  # pairs where only sine-full duplicated
    patch_only: int
    difference_lo: float  # 95% interval of full_rate - patch_rate, resampling images
    difference_hi: float
    p: float  # cluster-bootstrap p for 'no difference' (pairs of one image move together)
    images: int
    verdict: str
    setting: str = ""  # the v and K the pairs were edited at


def patch_vs_full(
    cells: pd.DataFrame, square: bool | None = False, measure: str = "duplicated"
) -> PairedTest:
    """Duplication of sine-full vs sine-patch on matched cells; ``square`` False keeps
    only non-square sizes, True only square ones, None all. ``measure``: "duplicated"
    (oracle count above the caption's) or "duplicated_same_color" (from the images)."""
    count = metric_column(cells, "oracle_count")
    if count is None:
        raise ReproductionError("claim (c) needs oracle_count (toy world only)")
    data = _with_duplication(cells, count)
    if square is not None:
        data = data[(data["height"] == data["width"]) == square]
    keys = ["item", "prompt_index", "seed", "size", "v", "K", *fine_tune_axes(data)]
    full = data[data["finetune.method"] == "sine-full"].set_index(keys)[measure]
    patch = data[data["finetune.method"] == "sine-patch"].set_index(keys)[measure]
    joined = pd.concat({"full": full, "patch": patch}, axis=1).dropna()
    full_only = int(((joined["full"] == 1) & (joined["patch"] == 0)).sum())
    patch_only = int(((joined["patch"] == 1) & (joined["full"] == 0)).sum())
    difference = (joined["full"] - joined["patch"]).to_numpy(dtype=float)
    items = joined.index.get_level_values("item").tolist()
    est = (
        cluster_bootstrap(lambda rows: float(difference[rows].mean()), len(joined), items)
        if len(joined)
        else Estimate(math.nan, math.nan, math.nan, math.nan, 0)
    )
    p = est.p if full_only != patch_only else 1.0
    if joined.empty:
        verdict = "no pairs"
    elif full_only > patch_only:
        verdict = "holds" if p < ALPHA else "holds (not significant)"
    elif full_only < patch_only:
        verdict = "reversed" if p < ALPHA else "reversed (not significant)"
    else:
        verdict = "no difference"
    label = {False: "non-square", True: "square", None: "all"}[square]
    return PairedTest(
        label,
        measure,
        len(joined),
        float(joined["full"].mean()) if len(joined) else math.nan,
        float(joined["patch"].mean()) if len(joined) else math.nan,
        full_only,
        patch_only,
        est.lo,
        est.hi,
        float(p),
        est.clusters,
        verdict,
    )


def plot_duplication(table: pd.DataFrame, runs: list[str], path: Path) -> Path:
    """Bars: the share of cells with objects beyond the caption's, per setting and size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = table.copy()
    settings = [c for c in ("v", "K", *fine_tune_axes(df)) if c in df]  # e.g. finetune.steps
    df["label"] = (
        df[[*settings, "finetune.method"]]
        .astype(str)
        .agg(lambda r: ", ".join(f"{k}={v}" for k, v in r.items()), axis=1)
    )
    sizes = list(dict.fromkeys(df["size"]))
    labels = list(dict.fromkeys(df["label"]))
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.4))
    width = 0.8 / len(labels)
    for ax, column in zip(axs, ("duplication_rate", "same_color_duplication_rate"), strict=True):
        for i, label in enumerate(labels):
            part = df[df["label"] == label].set_index("size").reindex(sizes)
            x = np.arange(len(sizes)) + (i - (len(labels) - 1) / 2) * width
            ax.bar(x, part[column], width, label=label)
        ax.set_xticks(np.arange(len(sizes)), sizes)
        ax.set(ylim=(0, 1), title=column, ylabel="fraction of cells")
    axs[0].legend(fontsize=7)
    fig.suptitle(f"{', '.join(runs)}: objects beyond the caption's", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
