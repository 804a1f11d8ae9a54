"""Claim (d) and the endpoints: the fine-tuned model alone vs SINE vs the pretrained
model alone, and the two settings that must give plain pretrained samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics.families import FAMILIES
from .cells import metric_column


def _image_array(cells: pd.DataFrame, row: pd.Series) -> np.ndarray | None:
    path = Path(row["run_dir"]) / row["image"] if "run_dir" in cells else None
    if path is None or not path.is_file():
        return None
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(np.int16)


SAME_IMAGE_TOLERANCE = 2  # 8-bit levels: batched sampling differs from unbatched by float noise


def identical_across_prompts(cells: pd.DataFrame) -> float:
    """Fraction of (item, seed, settings) groups whose edits are the same image for
    every prompt, up to SAME_IMAGE_TOLERANCE per pixel (NaN without image files or
    with one prompt per item)."""
    group_cols = [c for c in ("item", "seed", "resolution", "finetune.method") if c in cells]
    same, total = 0, 0
    for _, group in cells.groupby(group_cols, dropna=False):
        if group["prompt_index"].nunique() < 2:
            continue
        images = [_image_array(cells, row) for _, row in group.iterrows()]
        if any(i is None for i in images):
            return math.nan
        total += 1
        same += all(
            i.shape == images[0].shape and int(np.abs(i - images[0]).max()) <= SAME_IMAGE_TOLERANCE
            for i in images
        )
    return same / total if total else math.nan


def pretrained_equivalence(cells: pd.DataFrame, metric: str) -> dict[str, float]:
    """v = 1 and K = 1000 both mean 'pretrained only': the largest |difference| of
    ``metric`` between cells that differ only in v/K among those settings (0 = the
    same samples), and how many pairs were compared."""
    pretrained = cells[(cells["v"] == 1.0) | (cells["K"] == 1000)]
    keys = [c for c in ("item", "prompt_index", "seed", "resolution", "finetune.method")]
    keys = [c for c in keys if c in cells]
    diffs, pairs = [], 0
    for _, group in pretrained.groupby(keys, dropna=False):
        values = group[metric].dropna().to_numpy()
        if len(values) > 1:
            pairs += 1
            diffs.append(float(values.max() - values.min()))
    return {"pairs": pairs, "max_abs_diff": max(diffs) if diffs else math.nan}


# --------------------------------------------------------------------------- claim (c)


def overfit_table(cells: pd.DataFrame, sine: tuple[float, int] = (0.7, 400)) -> pd.DataFrame:
    """Fine-tuned-only vs SINE vs pretrained-only: fidelity to the source, edit success,
    copy rate, and whether the edit depends on the prompt at all."""
    roles = {
        "fine-tuned only (v=0, K=0)": (cells["v"] == 0.0) & (cells["K"] == 0),
        f"SINE (v={sine[0]:g}, K={sine[1]})": (cells["v"] == sine[0]) & (cells["K"] == sine[1]),
        "pretrained only (v=1)": cells["v"] == 1.0,
    }
    families = ("oracle_edit_success", "oracle_preserved", "oracle_structure", "oracle_offset")
    families += ("oracle_faithful", "lpips", "clip_t", "clip_i")
    families += ("copy_rate", "memorization", "prompt_insensitivity")
    columns = [c for f in families if (c := metric_column(cells, f))]
    rows = []
    for role, mask in roles.items():
        group = cells[mask]
        if role.startswith("pretrained") and group["K"].nunique() > 1:
            group = group[group["K"] == group["K"].max()]  # one copy of the same samples
        row = {"role": role, "n": len(group)}
        row |= {c: group[c].mean() for c in columns}
        row["identical_across_prompts"] = (
            identical_across_prompts(group) if len(group) else math.nan
        )
        rows.append(row)
    return pd.DataFrame(rows)


def overfit_verdict(table: pd.DataFrame) -> dict[str, str]:
    """The fine-tuned model alone is closer to the source and edits less than SINE."""
    ft, sine, pre = (table.iloc[i] for i in range(3))
    out = {}
    # (family, whether fine-tuned only should score better than SINE on it, the claim)
    for family, better, what in (
        ("lpips", True, "fine-tuned only is closer to the source (lower LPIPS) than SINE"),
        ("oracle_preserved", True, "fine-tuned only keeps more source attributes than SINE"),
        ("oracle_structure", True, "fine-tuned only keeps more of the source's layout than SINE"),
        ("oracle_edit_success", False, "fine-tuned only makes fewer edits than SINE"),
        ("clip_t", False, "fine-tuned only is less aligned with the prompt than SINE"),
    ):
        column = metric_column(table, family)
        if column is None:
            continue
        a, b = ft[column], sine[column]
        ok = (a - b) * FAMILIES.get(family).sign * (1 if better else -1) > 0
        verdict = "holds" if ok else "does not hold"
        out[what] = f"{verdict} ({a:.3f} vs {b:.3f}; pretrained {pre[column]:.3f})"
    return out
