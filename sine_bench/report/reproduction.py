"""Does a run reproduce the paper's findings? Trend tests on cells tables.

Reads the ``cells.parquet`` (or ``cells.csv``) of one or more run directories and, per
claim of Zhang et al. (CVPR 2023) that the runs can test, computes the measured trend:

(a) larger K raises text alignment and lowers fidelity; (b) larger v does the same,
    and v = 1 / K = 1000 are plain pretrained samples: Spearman rank correlation of
    the swept axis with each metric over all cells (and over its per-value means);
(c) plain fine-tuning duplicates objects at non-square sizes and patch fine-tuning
    fixes it: the oracle's object count against the caption's, per method and size,
    with a paired sign test between the methods;
(d) the fine-tuned model alone copies its source whatever the prompt: fine-tuned-only
    vs SINE vs pretrained-only cells.

It also checks the automatic metrics against the toy oracle: the AUROC of clip_t for
predicting oracle edit success, and the rank correlation of LPIPS with the oracle's
preserved attributes. Nothing here runs a model; it is a pure function of the tables
(plus, for "identical across prompts", the edit PNGs when they are present).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .edit_size import EditSizeAnalysis, analyse_edit_size, edit_size_markdown, plot_edit_size

ALPHA = 0.05
# family -> +1 if the paper's claim says it rises with K / v, -1 if it falls
ALIGNMENT = {"clip_t": +1, "oracle_edit_success": +1, "clip_dir": +1}
FIDELITY = {"lpips": +1, "oracle_preserved": -1, "clip_i": -1, "psnr": -1, "ssim": -1}
SUCCESS_THRESHOLD = 0.5  # oracle_edit_success >= this counts as a successful edit


class ReproductionError(ValueError):
    """A run directory without a cells table, or tables the analysis cannot use."""


# --------------------------------------------------------------------------- loading


def load_run(run_dir: str | Path) -> pd.DataFrame:
    """A run's cells with ``run`` and, when not swept, ``finetune.method`` filled in
    from its resolved protocol (so runs of different protocols can be pooled)."""
    import yaml

    run_dir = Path(run_dir)
    if (run_dir / "cells.parquet").is_file():
        cells = pd.read_parquet(run_dir / "cells.parquet")
    elif (run_dir / "cells.csv").is_file():
        cells = pd.read_csv(run_dir / "cells.csv")
    else:
        raise ReproductionError(f"{run_dir}: no cells.parquet or cells.csv (not a run directory)")
    protocol = {}
    if (run_dir / "protocol.yaml").is_file():
        protocol = yaml.safe_load((run_dir / "protocol.yaml").read_text()) or {}
    cells = cells.copy()
    cells["run"] = protocol.get("name", run_dir.name)
    cells["run_dir"] = str(run_dir)
    if "finetune.method" not in cells:
        cells["finetune.method"] = (protocol.get("finetune") or {}).get("method", "unknown")
    return cells


def metric_column(cells: pd.DataFrame, family: str) -> str | None:
    """The column of a metric family ('lpips' also matches 'st_lpips[...]')."""
    for column in cells.columns:
        base = column.split("[", 1)[0]
        if base == family or (family == "lpips" and base == "st_lpips"):
            return column
    return None


# --------------------------------------------------------------------------- trends


@dataclass
class Trend:
    """How one metric moves along one swept axis."""

    axis: str
    metric: str
    expected: int  # +1 rises, -1 falls
    rho: float  # Spearman over cells
    p: float
    rho_means: float  # Spearman over the per-axis-value means
    n: int
    first: float  # mean at the smallest axis value
    last: float  # mean at the largest
    verdict: str  # "holds", "holds (not significant)", "reversed", "reversed (n.s.)", "flat"


def _verdict(rho: float, p: float, expected: int) -> str:
    if not np.isfinite(rho) or rho == 0:
        return "flat"
    agrees = np.sign(rho) == expected
    significant = p < ALPHA
    if agrees:
        return "holds" if significant else "holds (not significant)"
    return "reversed" if significant else "reversed (not significant)"


def trend(cells: pd.DataFrame, axis: str, column: str, expected: int) -> Trend:
    """Spearman correlation of ``axis`` with ``column`` (NaNs dropped)."""
    data = cells[[axis, column]].dropna()
    n = len(data)
    if n < 3 or data[axis].nunique() < 2 or data[column].nunique() < 2:
        rho = p = rho_means = math.nan
    else:
        rho, p = stats.spearmanr(data[axis], data[column])
        means = data.groupby(axis)[column].mean()
        rho_means = (
            float(stats.spearmanr(means.index, means.values)[0])
            if means.nunique() > 1
            else math.nan
        )
    means = data.groupby(axis)[column].mean() if n else pd.Series(dtype=float)
    return Trend(
        axis,
        column,
        expected,
        float(rho),
        float(p),
        float(rho_means),
        n,
        float(means.iloc[0]) if len(means) else math.nan,
        float(means.iloc[-1]) if len(means) else math.nan,
        _verdict(float(rho), float(p), expected),
    )


def sweep_trends(cells: pd.DataFrame, axis: str) -> list[Trend]:
    """Every alignment and fidelity metric present, against ``axis``."""
    out = []
    for family, expected in {**ALIGNMENT, **FIDELITY}.items():
        column = metric_column(cells, family)
        if column is not None:
            out.append(trend(cells, axis, column, expected))
    return out


def axis_means(cells: pd.DataFrame, axis: str, columns: list[str]) -> pd.DataFrame:
    """Mean and 95% bootstrap interval of each column per axis value (for tables)."""
    from .tables import summarize

    return summarize(cells, [axis], columns)


# --------------------------------------------------------------------------- endpoints


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
    settings = [c for c in ("v", "K", *_fine_tune_axes(data)) if data[c].nunique() > 1]
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


def _fine_tune_axes(cells: pd.DataFrame) -> list[str]:
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
    p: float  # two-sided exact sign test on the discordant pairs
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
    keys = ["item", "prompt_index", "seed", "size", "v", "K", *_fine_tune_axes(data)]
    full = data[data["finetune.method"] == "sine-full"].set_index(keys)[measure]
    patch = data[data["finetune.method"] == "sine-patch"].set_index(keys)[measure]
    joined = pd.concat({"full": full, "patch": patch}, axis=1).dropna()
    full_only = int(((joined["full"] == 1) & (joined["patch"] == 0)).sum())
    patch_only = int(((joined["patch"] == 1) & (joined["full"] == 0)).sum())
    discordant = full_only + patch_only
    p = stats.binomtest(full_only, discordant).pvalue if discordant else math.nan
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
        float(p),
        verdict,
    )


# --------------------------------------------------------------------------- claim (d)

ROLES = {"fine-tuned only (v=0, K=0)": (0.0, 0), "pretrained only (v=1)": (1.0, None)}


def overfit_table(cells: pd.DataFrame, sine: tuple[float, int] = (0.7, 400)) -> pd.DataFrame:
    """Fine-tuned-only vs SINE vs pretrained-only: fidelity to the source, edit success,
    copy rate, and whether the edit depends on the prompt at all."""
    roles = {
        "fine-tuned only (v=0, K=0)": (cells["v"] == 0.0) & (cells["K"] == 0),
        f"SINE (v={sine[0]:g}, K={sine[1]})": (cells["v"] == sine[0]) & (cells["K"] == sine[1]),
        "pretrained only (v=1)": cells["v"] == 1.0,
    }
    families = ("oracle_edit_success", "oracle_preserved", "lpips", "clip_t", "clip_i")
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
    for family, sign, what in (
        ("lpips", -1, "fine-tuned only is closer to the source (lower LPIPS) than SINE"),
        ("oracle_preserved", +1, "fine-tuned only keeps more source attributes than SINE"),
        ("oracle_edit_success", -1, "fine-tuned only makes fewer edits than SINE"),
        ("clip_t", -1, "fine-tuned only is less aligned with the prompt than SINE"),
    ):
        column = metric_column(table, family)
        if column is None:
            continue
        a, b = ft[column], sine[column]
        ok = (a - b) * sign > 0
        verdict = "holds" if ok else "does not hold"
        out[what] = f"{verdict} ({a:.3f} vs {b:.3f}; pretrained {pre[column]:.3f})"
    return out


# --------------------------------------------------------------------------- validity


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random positive > a random negative), ties counted half."""
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (len(pos) * len(neg)))


def metric_validity(cells: pd.DataFrame) -> dict[str, float]:
    """clip_t's AUROC for oracle edit success; LPIPS vs oracle-preserved (Spearman).
    Cells shared between runs (same edit key) are counted once."""
    data = cells.drop_duplicates("edit_key") if "edit_key" in cells else cells
    out: dict[str, float] = {}
    clip_t, success = metric_column(data, "clip_t"), metric_column(data, "oracle_edit_success")
    if clip_t and success:
        d = data[[clip_t, success]].dropna()
        labels = (d[success] >= SUCCESS_THRESHOLD).to_numpy()
        out["clip_t_auroc_for_edit_success"] = auroc(d[clip_t].to_numpy(), labels)
        out["edit_success_positives"] = int(labels.sum())
        out["edit_success_cells"] = len(d)
    lpips, preserved = metric_column(data, "lpips"), metric_column(data, "oracle_preserved")
    if lpips and preserved:
        d = data[[lpips, preserved]].dropna()
        rho, p = stats.spearmanr(d[lpips], d[preserved]) if len(d) > 2 else (math.nan, math.nan)
        out["lpips_vs_preserved_spearman"] = float(rho)
        out["lpips_vs_preserved_p"] = float(p)
        out["lpips_vs_preserved_cells"] = len(d)
    return out


# --------------------------------------------------------------------------- report


@dataclass
class Reproduction:
    runs: list[str]
    trends: dict[str, list[Trend]] = field(default_factory=dict)  # axis -> trends
    endpoints: dict[str, dict] = field(default_factory=dict)
    duplication: pd.DataFrame | None = None
    paired: list[PairedTest] = field(default_factory=list)
    overfit: pd.DataFrame | None = None
    overfit_checks: dict[str, str] = field(default_factory=dict)
    validity: dict[str, float] = field(default_factory=dict)
    edit_size: EditSizeAnalysis | None = None  # claim (e)

    def to_json(self) -> dict:
        def frame(df):
            return None if df is None else json.loads(df.to_json(orient="records"))

        return {
            "runs": self.runs,
            "trends": {a: [asdict(t) for t in ts] for a, ts in self.trends.items()},
            "endpoints": self.endpoints,
            "duplication": frame(self.duplication),
            "patch_vs_full": [asdict(p) for p in self.paired],
            "overfit": frame(self.overfit),
            "overfit_checks": self.overfit_checks,
            "metric_validity": self.validity,
            "edit_size": self.edit_size.to_json() if self.edit_size else None,
        }


def analyse(cells: pd.DataFrame) -> Reproduction:
    """Every claim the pooled cells can test: a swept K or v (at one v / K), both
    fine-tune methods, and the fine-tuned-only / pretrained-only settings."""
    result = Reproduction(sorted(cells["run"].unique()) if "run" in cells else [])
    others = [c for c in cells.columns if c == "resolution" or c.startswith("finetune.")]
    for axis, fixed in (("K", "v"), ("v", "K")):
        for values, sweep in cells.groupby([fixed, *others], dropna=False):
            if sweep[axis].nunique() >= 3:
                held = ", ".join(
                    f"{k}={_fmt(v)}" for k, v in zip([fixed, *others], values, strict=True)
                )
                result.trends[f"{axis} (at {held})"] = sweep_trends(sweep, axis)
    clip_t = metric_column(cells, "clip_t")
    if clip_t and (((cells["v"] == 1.0) | (cells["K"] == 1000)).sum()):
        result.endpoints["pretrained_equivalence"] = pretrained_equivalence(cells, clip_t)
    ft_only = cells[(cells["v"] == 0.0) & (cells["K"] == 0)]
    if len(ft_only):
        result.endpoints["fine_tuned_only_identical_across_prompts"] = identical_across_prompts(
            ft_only
        )
    methods = set(cells["finetune.method"].unique())
    if {"sine-full", "sine-patch"} <= methods and metric_column(cells, "oracle_count"):
        result.duplication = duplication_table(cells)
        axes = ["v", "K", *_fine_tune_axes(cells)]
        for values, group in cells.groupby(axes):
            v, k = values[0], values[1]
            if group["finetune.method"].nunique() < 2 or v == 1.0:  # v = 1: no fine-tune
                continue
            swept = [
                f"{a.removeprefix('finetune.')}={_fmt(x)}"
                for a, x in zip(axes[2:], values[2:], strict=True)
            ]
            setting = ", ".join([f"v={v:g}", f"K={k}", *swept])
            for measure in ("duplicated", "duplicated_same_color"):
                for square in (False, True):
                    test = patch_vs_full(group, square=square, measure=measure)
                    test.setting = setting
                    result.paired.append(test)
    if len(ft_only) and (cells["v"] == 1.0).any():
        result.overfit = overfit_table(cells)
        result.overfit_checks = overfit_verdict(result.overfit)
    result.validity = metric_validity(cells)
    result.edit_size = analyse_edit_size(cells)
    return result


def _fmt(x) -> str:
    if isinstance(x, (float, np.floating)):
        return "nan" if not np.isfinite(x) else f"{x:.3g}"
    return str(x)


def _md_table(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(_fmt(v) for v in row.values) + " |")
    return "\n".join(lines)


def to_markdown(result: Reproduction) -> str:
    """The analysis as a Markdown page (numbers as measured; metric names as labelled)."""
    out = [f"# Reproduction report: {', '.join(result.runs)}", ""]
    for axis, trends in result.trends.items():
        out += [f"## Trend over {axis}", ""]
        df = pd.DataFrame([asdict(t) for t in trends])
        df["expected"] = df["expected"].map({1: "rises", -1: "falls"})
        out += [_md_table(df.drop(columns=["axis"])), ""]
    if result.endpoints:
        out += ["## Endpoints", ""]
        for name, value in result.endpoints.items():
            out.append(f"- {name}: {json.dumps(value, default=_fmt)}")
        out.append("")
    if result.duplication is not None:
        out += ["## Duplication: sine-full vs sine-patch", "", _md_table(result.duplication), ""]
        out += [_md_table(pd.DataFrame([asdict(p) for p in result.paired])), ""]
    if result.overfit is not None:
        out += ["## Fine-tuned only vs SINE vs pretrained only", "", _md_table(result.overfit), ""]
        out += [f"- {k}: {v}" for k, v in result.overfit_checks.items()] + [""]
    if result.validity:
        out += ["## Metric validity against the oracle", ""]
        out += [f"- {k}: {_fmt(v)}" for k, v in result.validity.items()] + [""]
    out += edit_size_markdown(result.edit_size)
    return "\n".join(out)


def write_plots(cells: pd.DataFrame, result: Reproduction, out: Path) -> list[Path]:
    """Metric vs K / v with 95% intervals, and duplication per method and size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for label, trends in result.trends.items():
        axis, held = label.split(" ", 1)
        sweep = cells
        for pair in held.strip("()").removeprefix("at ").split(", "):
            name, value = pair.split("=", 1)
            column = sweep[name]
            if name in ("v", "K"):
                sweep = sweep[np.isclose(column.astype(float), float(value))]
            else:
                sweep = sweep[column.astype(str) == value]
        columns = [t.metric for t in trends]
        summary = axis_means(sweep, axis, columns)
        fig, axs = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3), squeeze=False)
        for ax, column in zip(axs[0], columns, strict=True):
            ax.plot(summary[axis], summary[column], marker="o")
            ax.fill_between(
                summary[axis], summary[f"{column}_lo"], summary[f"{column}_hi"], alpha=0.25
            )
            ax.set(xlabel=axis, title=column)
        fig.suptitle(f"{', '.join(result.runs)}: over {axis} {held}", fontsize=9)
        fig.tight_layout()
        path = out / f"trend_{axis}_{len(written)}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    if result.duplication is not None:
        df = result.duplication.copy()
        settings = [c for c in ("v", "K") if c in df]
        df["label"] = (
            df[[*settings, "finetune.method"]]
            .astype(str)
            .agg(lambda r: ", ".join(f"{k}={v}" for k, v in r.items()), axis=1)
        )
        sizes = list(dict.fromkeys(df["size"]))
        labels = list(dict.fromkeys(df["label"]))
        fig, axs = plt.subplots(1, 2, figsize=(10, 3.4))
        width = 0.8 / len(labels)
        for ax, column in zip(
            axs, ("duplication_rate", "same_color_duplication_rate"), strict=True
        ):
            for i, label in enumerate(labels):
                part = df[df["label"] == label].set_index("size").reindex(sizes)
                x = np.arange(len(sizes)) + (i - (len(labels) - 1) / 2) * width
                ax.bar(x, part[column], width, label=label)
            ax.set_xticks(np.arange(len(sizes)), sizes)
            ax.set(ylim=(0, 1), title=column, ylabel="fraction of cells")
        axs[0].legend(fontsize=7)
        fig.suptitle(f"{', '.join(result.runs)}: objects beyond the caption's", fontsize=9)
        fig.tight_layout()
        path = out / "duplication.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    written += plot_edit_size(result.edit_size, out)
    return written


def reproduce_report(run_dirs: list[str | Path], out: str | Path) -> Reproduction:
    """Analyse the pooled runs; write reproduction.md, reproduction.json and plots."""
    cells = pd.concat([load_run(r) for r in run_dirs], ignore_index=True)
    if "edit_key" in cells:  # a cell two runs share (same edit) counts once
        cells = cells.drop_duplicates("edit_key", ignore_index=True)
    result = analyse(cells)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reproduction.md").write_text(to_markdown(result))
    (out / "reproduction.json").write_text(
        json.dumps(result.to_json(), indent=1, default=lambda x: None)
    )
    write_plots(cells, result, out)
    return result
