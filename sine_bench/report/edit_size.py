"""Claim (e): does SINE fail when the edit changes too much, and does a larger v help?

A cell's edit size is read from text alone: the attributes its target caption (the
item's ``expected[prompt]``, else the prompt) states differently from the item's source
description (``metrics.oracle.edited_attributes``), and whether it is a **class
change**: the target has fewer objects of the fine-tune's class word's shape than the
source (the class word's object changes shape). The cells table holds neither the
source description nor the class word, so they come from each run's dataset, as the run
resolved it (``protocol.yaml``). Per setting (v, and whatever else the cells sweep) and
edit size: the oracle_faithful rate, edit success and structure with 95% intervals that
resample source images (``stats``), and two contrasts of the faithful rate: the
smallest vs the largest edit without a class change, and no class change vs a class
change at the sizes that have both. Nothing here runs a model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .stats import CLUSTER, cluster_bootstrap

METRICS = ("oracle_faithful", "oracle_edit_success", "oracle_structure", "oracle_offset")
PIVOTED = ("oracle_faithful", "oracle_edit_success", "oracle_structure")  # markdown pivots


class EditSizeUnavailable(InputError):
    """The cells cannot be graded by edit size (the message says why)."""


@dataclass(frozen=True)
class ItemText:
    """What a dataset item says about its edits (not in the cells table)."""

    source: str
    class_word: str
    expected: Mapping[str, str] = field(default_factory=dict)  # prompt -> target caption


@dataclass(frozen=True)
class EditSize:
    attributes: int  # how many attributes the edit changes
    class_change: bool  # the class word's object changes shape

    @property
    def label(self) -> str:
        return f"{self.attributes} (class)" if self.class_change else str(self.attributes)


def edit_size(source: str, target: str, class_word: str) -> EditSize:
    """The size of the edit from ``source`` to ``target`` (toy captions); raises
    EditSizeUnavailable for text the toy caption parser cannot read."""
    from ..metrics.oracle import edited_attributes
    from ..toy.oracle import parse_caption

    facts = {}
    for role, text in (("source description", source), ("target caption", target)):
        parsed = parse_caption(text or "")
        if parsed.background is None or not parsed.objects:
            raise EditSizeUnavailable(f"{role} {text!r} is not a toy caption")
        facts[role] = parsed
    before, after = facts["source description"], facts["target caption"]
    changed = edited_attributes(before, after)

    def shapes(facts) -> int:
        return sum(shape == class_word for _, _, shape in facts.objects)

    class_change = "shape" in changed and shapes(after) < shapes(before)
    return EditSize(len(changed), class_change)


# --------------------------------------------------------------------------- sources


def item_texts(run_dir: str | Path) -> dict[str, ItemText]:
    """Each item's source description, class word and expected captions, from the
    dataset the run's ``protocol.yaml`` names (found from the directory the run was
    made in, derived from its output path, or else from the working directory)."""
    import yaml

    from ..protocol.dataset import resolve_dataset
    from ..protocol.fields import ProtocolError
    from ..protocol.loading import parse_protocol

    run_dir = Path(run_dir)
    path = run_dir / "protocol.yaml"
    if not path.is_file():
        raise EditSizeUnavailable(f"{run_dir}: no protocol.yaml (needed for source descriptions)")
    try:
        protocol = parse_protocol(yaml.safe_load(path.read_text()) or {}, str(path))
    except ProtocolError as err:
        raise EditSizeUnavailable(f"{path}: {err}") from None
    roots = [Path.cwd()]
    output = protocol.output_dir.parts
    here = run_dir.resolve().parts
    if not protocol.output_dir.is_absolute() and here[-len(output) :] == output:
        roots.insert(0, Path(*here[: -len(output)]))
    errors = []
    for root in roots:
        try:
            items = resolve_dataset(protocol, root)
        except ProtocolError as err:
            errors.append(str(err))
            continue
        return {
            i.spec.id: ItemText(i.spec.source, i.spec.class_word, dict(i.spec.expected))
            for i in items
        }
    raise EditSizeUnavailable(
        f"{run_dir}: its dataset cannot be read from here ({errors[-1]}; run from the "
        "directory the run was made in)"
    )


def with_edit_size(
    cells: pd.DataFrame, texts: Mapping[str, Mapping[str, ItemText]] | None = None
) -> pd.DataFrame:
    """The cells with ``edit_attributes``, ``class_change`` and ``edit_size`` (label).

    ``texts``: run_dir -> item -> ItemText; by default read from each cell's
    ``run_dir`` (``item_texts``). A cells table without ``run_dir`` needs ``texts``
    under the key ``""``.
    """
    runs = cells["run_dir"].astype(str) if "run_dir" in cells else pd.Series("", cells.index)
    if texts is None:
        if "run_dir" not in cells:
            raise EditSizeUnavailable("the cells have no run_dir to find their dataset")
        texts = {run: item_texts(run) for run in runs.unique()}
    sizes = []
    for run, item, prompt in zip(runs, cells["item"], cells["prompt"], strict=True):
        text = texts.get(run, {}).get(item)
        if text is None:
            raise EditSizeUnavailable(f"item {item!r} is not in the dataset of {run or 'cells'}")
        sizes.append(edit_size(text.source, text.expected.get(prompt, prompt), text.class_word))
    out = cells.copy()
    out["edit_attributes"] = [s.attributes for s in sizes]
    out["class_change"] = [s.class_change for s in sizes]
    out["edit_size"] = [s.label for s in sizes]
    return out


# --------------------------------------------------------------------------- analysis


@dataclass
class EditSizeAnalysis:
    """The tables of claim (e), or the reason there are none (``note``)."""

    settings: list[str] = field(default_factory=list)  # columns a row is per, v first
    table: pd.DataFrame | None = None  # per setting and edit size: n, images, mean/lo/hi
    contrasts: pd.DataFrame | None = None  # faithful-rate differences, per setting
    note: str = ""

    def to_json(self) -> dict:
        def frame(df):
            return None if df is None else json.loads(df.to_json(orient="records"))

        best = None if self.table is None else frame(best_v(self))
        return {
            "settings": self.settings,
            "table": frame(self.table),
            "best_v": best,
            "contrasts": frame(self.contrasts),
            "note": self.note,
        }


def _settings(cells: pd.DataFrame) -> list[str]:
    swept = [c for c in cells.columns if c in ("K", "resolution") or c.startswith("finetune.")]
    return ["v", *[c for c in swept if cells[c].nunique(dropna=False) > 1]]


def _rate_difference(data: pd.DataFrame, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean over ``pairs`` of (faithful rate of the first cells - the second's): one
    pair per edit size compared, so sizes weigh equally; cluster bootstrap."""
    values = data["oracle_faithful"].to_numpy(dtype=float)

    def difference(rows: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
        a, b = values[rows[first[rows]]], values[rows[second[rows]]]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        return float(a.mean() - b.mean()) if len(a) and len(b) else math.nan

    def statistic(rows: np.ndarray) -> float:
        return float(np.mean([difference(rows, first, second) for first, second in pairs]))

    estimate = cluster_bootstrap(statistic, len(data), data[CLUSTER].tolist())
    return {
        "difference": estimate.value,
        "lo": estimate.lo,
        "hi": estimate.hi,
        "p": estimate.p,
        "images": estimate.clusters,
    }


def contrasts(data: pd.DataFrame) -> list[dict]:
    """Within one setting: smallest vs largest edit without a class change, and no class
    change vs a class change at the sizes that have both."""
    out = []
    klass = data["class_change"].to_numpy()
    attributes = data["edit_attributes"].to_numpy()
    plain = set(attributes[~klass])
    if len(plain) > 1:
        small, large = min(plain), max(plain)
        pair = (~klass & (attributes == small), ~klass & (attributes == large))
        name = f"{small} vs {large} attributes, no class change"
        out.append({"contrast": name} | _rate_difference(data, [pair]))
    both = sorted(plain & set(attributes[klass]))
    if both:
        pairs = [(~klass & (attributes == n), klass & (attributes == n)) for n in both]
        name = f"no class change vs class change, same size ({', '.join(map(str, both))})"
        out.append({"contrast": name} | _rate_difference(data, pairs))
    return out


def analyse_edit_size(
    cells: pd.DataFrame, texts: Mapping[str, Mapping[str, ItemText]] | None = None
) -> EditSizeAnalysis:
    """Claim (e) on any cells with toy captions and oracle metrics; otherwise an
    analysis whose ``note`` says why not (nothing raised: the other claims go on)."""
    from .tables import summarize

    metrics = [m for m in METRICS if m in cells]
    if "oracle_faithful" not in metrics:
        return EditSizeAnalysis(
            note="no oracle_faithful column (a toy-world metric: add it to the protocol and rerun)"
        )
    try:
        data = with_edit_size(cells, texts)
    except EditSizeUnavailable as err:
        return EditSizeAnalysis(note=str(err))
    data = data[data["v"].notna()]  # claim (e) is about SINE's v: other methods have none
    sizes = data[["edit_attributes", "class_change"]].drop_duplicates()
    if data.empty:
        return EditSizeAnalysis(note="no SINE cells (no v) to compare edit sizes over")
    if len(sizes) < 2:
        return EditSizeAnalysis(note=f"every edit has the same size ({data['edit_size'].iloc[0]})")
    settings = _settings(data)
    order = ["edit_attributes", "class_change"]
    table = summarize(data, [*settings, *order], metrics)
    table.insert(
        len(settings),
        "edit_size",
        [
            EditSize(int(a), bool(c)).label
            for a, c in zip(table["edit_attributes"], table["class_change"], strict=True)
        ],
    )
    rows = []
    for values, group in data.groupby(settings, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        key = dict(zip(settings, values, strict=True))
        rows += [key | c for c in contrasts(group.reset_index(drop=True))]
    return EditSizeAnalysis(settings, table, pd.DataFrame(rows) if rows else None)


# --------------------------------------------------------------------------- output


def _interval(row: pd.Series, metric: str) -> str:
    value, lo, hi = row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"]
    if not np.isfinite(value):
        return "-"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.2f}"
    return f"{value:.2f} [{lo:.2f}, {hi:.2f}]"


def best_v(analysis: EditSizeAnalysis) -> pd.DataFrame:
    """Per edit size (and other swept setting): the v with the highest faithful rate
    (ties: the smaller v) and what that v costs in structure. Descriptive: the
    intervals are the table's, not corrected for picking the best."""
    table, others = analysis.table, analysis.settings[1:]
    rows = []
    for _, group in table.groupby([*others, "edit_attributes", "class_change"], sort=True):
        best = group.sort_values(["oracle_faithful", "v"], ascending=[False, True]).iloc[0]
        rows.append(best)
    return pd.DataFrame(rows).reset_index(drop=True)


def pivot_markdown(analysis: EditSizeAnalysis, metric: str) -> str:
    """Rows: edit size; columns: the settings (v, ...); cells 'mean [lo, hi]'."""
    table = analysis.table
    columns = table[analysis.settings].drop_duplicates().itertuples(index=False, name=None)
    columns = list(columns)
    names = [
        ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in zip(analysis.settings, c, strict=True)
        )
        for c in columns
    ]
    body = []
    for label, group in table.groupby("edit_size", sort=False):
        by_setting = {tuple(r[analysis.settings]): r for _, r in group.iterrows()}
        body.append(
            (label, [_interval(by_setting[c], metric) if c in by_setting else "-" for c in columns])
        )
    filled = [i for i in range(len(columns)) if any(cells[i] != "-" for _, cells in body)]
    names = [names[i] for i in filled]  # no column without a value
    lines = ["| edit size | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, cells in body:
        lines.append(f"| {label} | " + " | ".join(cells[i] for i in filled) + " |")
    return "\n".join(lines)


def edit_size_markdown(analysis: EditSizeAnalysis | None) -> list[str]:
    """The 'Edit size' section of reproduction.md (lines)."""
    if analysis is None:
        return []
    out = ["## Edit size (claim e): faithful rate, edit success, structure", ""]
    if analysis.table is None:
        return out + [f"- not analysed: {analysis.note}", ""]
    images = int(analysis.table["images"].max())
    out += [
        "Edit size = attributes the target caption changes; '(class)' = the class word's "
        f"object changes shape. Mean [95% interval resampling {images} source images].",
        "",
    ]
    for metric in PIVOTED:
        if metric in analysis.table:
            out += [f"### {metric}", "", pivot_markdown(analysis, metric), ""]
    best = best_v(analysis)
    metrics = [m for m in PIVOTED if m in best]
    header = [*analysis.settings[1:], "edit size", "best v", *metrics]
    out += ["### The v with the highest faithful rate, per edit size", ""]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in best.iterrows():
        values = [str(row[c]) for c in analysis.settings[1:]]
        values += [row["edit_size"], f"{row['v']:g}", *(_interval(row, m) for m in metrics)]
        out.append("| " + " | ".join(values) + " |")
    out.append("")
    if analysis.contrasts is not None:
        out += ["### Faithful-rate contrasts (first minus second)", ""]
        df = analysis.contrasts
        lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
        for _, row in df.iterrows():
            lines.append(
                "| "
                + " | ".join(f"{x:.3g}" if isinstance(x, float) else str(x) for x in row.values)
                + " |"
            )
        out += [*lines, ""]
    return out


def plot_edit_size(analysis: EditSizeAnalysis | None, out: Path) -> list[Path]:
    """edit_size.png: each pivoted metric against v, one line per edit size (dashed:
    class change), 95% intervals as error bars."""
    if analysis is None or analysis.table is None:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = analysis.table
    others = analysis.settings[1:]
    metrics = [m for m in PIVOTED if m in table]
    panels = list(table.groupby(others, sort=True)) if others else [((), table)]
    fig, axs = plt.subplots(
        len(panels), len(metrics), figsize=(3.6 * len(metrics), 3.2 * len(panels)), squeeze=False
    )
    labels = list(dict.fromkeys(table["edit_size"]))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, int(table["edit_attributes"].max()) + 1))
    for row, (held, part) in zip(axs, panels, strict=True):
        for ax, metric in zip(row, metrics, strict=True):
            for i, label in enumerate(labels):
                line = part[part["edit_size"] == label].sort_values("v")
                if line.empty:
                    continue
                jitter = (i - (len(labels) - 1) / 2) * 0.008
                err = [line[metric] - line[f"{metric}_lo"], line[f"{metric}_hi"] - line[metric]]
                ax.errorbar(
                    line["v"] + jitter,
                    line[metric],
                    yerr=np.abs(np.array(err, dtype=float)),
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=label,
                    ls="--" if bool(line["class_change"].iloc[0]) else "-",
                    color=colors[int(line["edit_attributes"].iloc[0])],
                )
            title = metric if not others else f"{metric}\n{held}"
            ax.set(xlabel="v", ylim=(-0.02, 1.02), title=title)
    axs[0][0].legend(title="edit size", fontsize=7)
    fig.tight_layout()
    path = out / "edit_size.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [path]
