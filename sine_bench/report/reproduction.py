"""Does a run reproduce the paper's findings? The analysis behind ``reproduce-report``.

Reads the cells tables of one or more finished runs and, per claim of Zhang et al.
(CVPR 2023) that the runs can test:

(a) larger K raises text alignment and lowers fidelity; (b) larger v does the same,
    and v = 1 / K = 1000 are plain pretrained samples (``trends``);
(c) plain fine-tuning duplicates objects at non-square sizes and patch fine-tuning
    fixes it (``duplication``);
(d) the fine-tuned model alone copies its source whatever the prompt (``endpoints``).

It also measures the automatic metrics against the toy oracle's ground truth
(``validity``): which fidelity metric tells a kept structure from a lost one, and how
well clip_t predicts an edit and a faithful edit. Every interval and test resamples
source images (``stats``). Nothing here runs a model: it is a pure function of the
tables (plus, for "identical across prompts", the edit PNGs when they are present).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .cells import ReproductionError, load_run, metric_column
from .duplication import (
    PairedTest,
    duplication_table,
    fine_tune_axes,
    patch_vs_full,
    plot_duplication,
)
from .edit_size import EditSizeAnalysis, analyse_edit_size, edit_size_markdown, plot_edit_size
from .endpoints import (
    identical_across_prompts,
    overfit_table,
    overfit_verdict,
    pretrained_equivalence,
)
from .score_validity import score_validity
from .tables import summarize
from .trends import Trend, sweep_trends
from .validity import trusted_fidelity_metric, validity

__all__ = ["Reproduction", "ReproductionError", "analyse", "load_run", "reproduce_report"]


@dataclass
class Reproduction:
    runs: list[str]
    trends: dict[str, list[Trend]] = field(default_factory=dict)  # axis -> trends
    endpoints: dict[str, dict] = field(default_factory=dict)
    duplication: pd.DataFrame | None = None
    paired: list[PairedTest] = field(default_factory=list)
    overfit: pd.DataFrame | None = None
    overfit_checks: dict[str, str] = field(default_factory=dict)
    validity: pd.DataFrame | None = None  # validity.validity(): metric x oracle outcome
    edit_size: EditSizeAnalysis | None = None  # claim (e)
    scores: pd.DataFrame | None = None  # score_validity(): who predicts a faithful edit

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
            "metric_validity": frame(self.validity),
            "trusted_fidelity_metric": (
                None if self.validity is None else trusted_fidelity_metric(self.validity)
            ),
            "edit_size": self.edit_size.to_json() if self.edit_size else None,
            "score_validity": frame(self.scores),
        }


def analyse(cells: pd.DataFrame, per_run: pd.DataFrame | None = None) -> Reproduction:
    """Every claim the pooled cells can test: a swept K or v (at one v / K), both
    fine-tune methods, and the fine-tuned-only / pretrained-only settings.

    ``per_run``: the cells before shared edits were dropped (each run's own table), for
    the per-run validity; ``cells`` itself by default.
    """
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
        axes = ["v", "K", *fine_tune_axes(cells)]
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
    table = validity(cells if per_run is None else per_run)
    result.validity = table if len(table) else None
    result.edit_size = analyse_edit_size(cells)
    scores = score_validity(cells if per_run is None else per_run)
    result.scores = scores if len(scores) else None
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
        out += [
            "Spearman rho over cells; rho_lo/rho_hi and p (for rho = 0) resample source "
            "images (cluster bootstrap, 2,000 draws: p = 0.0005 is its floor).",
            "",
        ]
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
    if result.validity is not None:
        out += validity_markdown(result.validity)
    out += edit_size_markdown(result.edit_size)
    if result.scores is not None:
        out += score_validity_markdown(result.scores)
    return "\n".join(out)


def score_validity_markdown(table: pd.DataFrame) -> list[str]:
    """Per metric and scope: AUROC for a faithful cell and the per-setting Spearman."""

    def cell(row, value, lo, hi) -> str:
        v = row.get(value, np.nan)
        return f"{v:.2f} [{row[lo]:.2f}, {row[hi]:.2f}]" if np.isfinite(v) else "-"

    rows = []
    for _, row in table.iterrows():
        rows.append(
            {
                "metric": row["metric"],
                "scope": row["scope"],
                "AUROC (faithful)": cell(row, "auroc", "auroc_lo", "auroc_hi"),
                "settings": _fmt(row.get("settings", np.nan)),
                "setting rho": cell(row, "setting_rho", "setting_rho_lo", "setting_rho_hi"),
            }
        )
    return [
        "## Which score predicts a faithful edit",
        "",
        "Per cell: AUROC of the metric (oriented by its direction) for oracle_faithful = 1. "
        "Per setting (every grid axis but the seed): Spearman between the settings' mean "
        "metric and their faithful rate, i.e. does ranking settings by the metric rank them "
        "as the oracle does. 95% intervals resample source images.",
        "",
        _md_table(pd.DataFrame(rows)),
        "",
    ]


def validity_markdown(table: pd.DataFrame) -> list[str]:
    """One row per metric and oracle outcome, one column per scope (runs, pooled)."""
    shown = table.assign(
        cell=[
            f"{v:.2f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(v) else "-"
            for v, lo, hi in zip(table["value"], table["lo"], table["hi"], strict=True)
        ]
    )
    wide = shown.pivot_table(
        index=["metric", "predicts", "statistic"], columns="scope", values="cell", aggfunc="first"
    )
    scopes = [c for c in wide.columns if c != "pooled"] + ["pooled"]
    wide = wide[[c for c in scopes if c in wide.columns]].reset_index()
    pooled = table[table["scope"] == "pooled"]
    cells = int(pooled["cells"].max()) if len(pooled) else 0
    images = int(pooled["images"].max()) if len(pooled) else 0
    trusted = trusted_fidelity_metric(table)
    return [
        "## Metric validity against the oracle",
        "",
        "AUROC: how well the metric (oriented: lower LPIPS = closer) ranks cells with the "
        "outcome above cells without it (0.5 chance, 1 perfect). Spearman with "
        "oracle_offset: negative expected for higher-is-better metrics (PSNR, SSIM, clip_i, "
        "clip_dir), positive for LPIPS. 95% intervals resample source images "
        f"(pooled: {cells} cells of {images} images).",
        "",
        _md_table(wide.fillna("-")),
        "",
        f"- best pooled AUROC for a kept structure: {trusted}",
        "",
    ]


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
        summary = summarize(sweep, [axis], columns)
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
        written.append(plot_duplication(result.duplication, result.runs, out / "duplication.png"))
    written += plot_edit_size(result.edit_size, out)
    return written


def reproduce_report(run_dirs: list[str | Path], out: str | Path) -> Reproduction:
    """Analyse the pooled runs; write reproduction.md, reproduction.json and plots."""
    every = pd.concat([load_run(r) for r in run_dirs], ignore_index=True)
    cells = every
    if "edit_key" in cells:  # a cell two runs share (same edit) counts once
        cells = cells.drop_duplicates("edit_key", ignore_index=True)
    result = analyse(cells, per_run=every)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reproduction.md").write_text(to_markdown(result))
    (out / "reproduction.json").write_text(
        json.dumps(result.to_json(), indent=1, default=lambda x: None)
    )
    write_plots(cells, result, out)
    return result
