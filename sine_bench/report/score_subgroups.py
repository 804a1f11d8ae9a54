"""Where does an edit score hold? Its validity per subgroup of a run's cells.

``score_validity`` answers "does the score predict a faithful edit" per run; a score
validated on one kind of scene can still fail on another, or within one editing method
whose cells it cannot tell apart. This module asks the same questions of named subsets
(a seed range, a kind of scene, a method), counting each edit once (a deterministic
method's seeds are one image under one edit key), and adds what a user reads off the
score directly: how many faithful edits score below a threshold, and whether each
method's best setting by the score is the oracle's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .score_validity import setting_columns, setting_row
from .stats import CLUSTER, cluster_mean_ci
from .validity import FAITHFUL, FULL, family, score_label


def once_per_edit(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per edit key (a deterministic method's seeds are one image)."""
    return cells.drop_duplicates("edit_key") if "edit_key" in cells else cells


def score_column(cells: pd.DataFrame, name: str = "edit_score") -> str:
    """The column of the metric family ``name`` (its label names the backbones)."""
    found = [c for c in cells.columns if family(c) == name]
    if len(found) != 1:
        raise ValueError(f"expected one {name} column, found {found or 'none'}")
    return found[0]


def subgroup_row(
    cells: pd.DataFrame,
    scope: str,
    score: str,
    compared: Sequence[str] = (),
    below: float = 1.1,
) -> dict:
    """AUROC for a faithful edit of ``score`` (and of each ``compared`` metric), the
    faithful rate and the share of faithful edits scoring below ``below``, with 95%
    intervals over source images. ``cells`` must already count each edit once."""
    truth = cells[FAITHFUL.column].to_numpy(float) >= FULL
    row: dict = {
        "scope": scope,
        "edits": len(cells),
        "images": cells[CLUSTER].nunique(),
        "faithful": float(truth.mean()) if len(cells) else np.nan,
    }
    for metric in (score, *compared):
        est = score_label(cells, scope, metric, FAITHFUL)
        row[f"auroc {metric}"] = est["value"] if est else np.nan
        row[f"auroc {metric} lo"] = est["lo"] if est else np.nan
        row[f"auroc {metric} hi"] = est["hi"] if est else np.nan
    faithful = cells[truth]
    low = (faithful[score].to_numpy(float) < below).astype(float)
    row["faithful below"] = float(low.mean()) if len(low) else np.nan
    lo, hi = cluster_mean_ci(low, faithful[CLUSTER].tolist()) if len(low) else (np.nan,) * 2
    row["faithful below lo"], row["faithful below hi"] = lo, hi
    return row


def subgroup_table(
    cells: pd.DataFrame,
    groups: Mapping[str, pd.Series],
    compared: Sequence[str] = (),
    below: float = 1.1,
) -> pd.DataFrame:
    """One ``subgroup_row`` per named boolean mask over ``cells`` (each edit once)."""
    cells = once_per_edit(cells)
    score = score_column(cells)
    rows = []
    for scope, mask in groups.items():
        part = cells[mask.reindex(cells.index, fill_value=False).to_numpy(bool)]
        if len(part):
            rows.append(subgroup_row(part, scope, score, compared, below))
    return pd.DataFrame(rows)


def setting_rank_table(cells: pd.DataFrame, groups: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Per named subset: the Spearman of the settings' mean score with their faithful
    rate (``score_validity.setting_row``), each edit once."""
    cells = once_per_edit(cells)
    score = score_column(cells)
    rows = []
    for scope, mask in groups.items():
        part = cells[mask.reindex(cells.index, fill_value=False).to_numpy(bool)]
        row = setting_row(part, scope, score) if len(part) else None
        if row is not None:
            rows.append(row)
    return pd.DataFrame(rows)


def best_settings(cells: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """Per ``by`` value: the setting with the highest mean score, the one with the
    highest faithful rate, and the faithful rate the score's pick gets (each edit once)."""
    cells = once_per_edit(cells)
    score = score_column(cells)
    axes = [c for c in setting_columns(cells) if c != by]
    rows = []
    for name, group in cells.groupby(by, sort=True):
        used = [a for a in axes if group[a].notna().any() and group[a].nunique() > 1]
        label = (
            group[used].apply(lambda col: col.map(f"{col.name}={{}}".format)).agg(", ".join, axis=1)
            if used
            else pd.Series("the one setting", index=group.index)
        )
        faithful = (group[FAITHFUL.column] >= FULL).astype(float)
        means = pd.DataFrame({"score": group[score], "faithful": faithful, "setting": label})
        means = means.groupby("setting", sort=True).mean()
        picked = means["score"].idxmax()
        best = means["faithful"].max()
        rows.append(
            {
                by: name,
                "axes": ", ".join(used),
                "settings": len(means),
                "best by score": picked,
                "its faithful rate": float(means.loc[picked, "faithful"]),
                "best by oracle": ", ".join(means.index[means["faithful"] == best]),
                "oracle's best rate": float(best),
            }
        )
    return pd.DataFrame(rows)
