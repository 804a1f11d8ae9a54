"""Plots of the sweeps: alignment vs fidelity trade-offs and each metric vs K and v,
one column per resolution. Matplotlib's Agg backend: no display needed."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

# bump when a plot changes: cached plots are keyed on it (5: a frontier line per method)
PLOTS_VERSION = "5"
ALIGNMENT = ("clip_t[", "oracle_edit_success", "clip_dir[")
FIDELITY = ("lpips[", "st_lpips[", "psnr", "ssim")


def pick(metrics: list[str], prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        for m in metrics:
            if m.startswith(prefix):
                return m
    return None


def _means(cells: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    return cells.groupby(by, sort=True)[metrics].mean().reset_index()


def _columns(cells: pd.DataFrame) -> list[str]:
    return sorted(cells["resolution"].astype(str).unique())


def tradeoff(cells: pd.DataFrame, x: str, y: str, over: str, lines: str, path: Path) -> None:
    """y vs x, one curve per value of ``lines``, points ordered by ``over``."""
    res = _columns(cells)
    fig, axs = plt.subplots(1, len(res), figsize=(4.2 * len(res), 3.6), squeeze=False)
    for ax, r in zip(axs[0], res, strict=True):
        data = _means(cells[cells["resolution"].astype(str) == r], [lines, over], [x, y])
        for value, group in data.groupby(lines):
            group = group.sort_values(over)
            ax.plot(group[x], group[y], marker="o", label=f"{lines}={value}")
            for _, row in group.iterrows():
                ax.annotate(f"{over}={row[over]:g}", (row[x], row[y]), fontsize=7)
        ax.set(xlabel=x, ylabel=y, title=f"resolution {r}: over {over}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def metric_vs(cells: pd.DataFrame, metrics: list[str], axis: str, lines: str, path: Path) -> None:
    """Each metric against ``axis`` (rows), one column per resolution, curves per ``lines``."""
    res = _columns(cells)
    fig, axs = plt.subplots(
        len(metrics), len(res), figsize=(4.2 * len(res), 2.8 * len(metrics)), squeeze=False
    )
    for j, r in enumerate(res):
        data = _means(cells[cells["resolution"].astype(str) == r], [lines, axis], metrics)
        for i, metric in enumerate(metrics):
            ax = axs[i][j]
            for value, group in data.groupby(lines):
                group = group.sort_values(axis)
                ax.plot(group[axis], group[metric], marker="o", label=f"{lines}={value}")
            ax.set(xlabel=axis, ylabel=metric, title=f"{metric} @ {r}")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_plots(
    cells: pd.DataFrame,
    metrics: list[str],
    out: Path,
    axes: list[str] | None = None,
    references: pd.DataFrame | None = None,
) -> list[Path]:
    """The standard plots for a run (with ``axes``, the frontier's trade-off plot too,
    a methods run's ``references`` marked on it); returns the files written."""
    from .frontier import plot_tradeoff, settings_table

    out.mkdir(parents=True, exist_ok=True)
    numeric = [m for m in metrics if cells[m].notna().any()]
    written = []
    if not numeric:
        return written
    table = settings_table(cells, axes, references) if axes is not None else None
    if table is not None and plot_tradeoff(table, cells, out / "frontier.png"):
        written.append(out / "frontier.png")
    x, y = pick(numeric, FIDELITY), pick(numeric, ALIGNMENT)
    if not all(a in cells and cells[a].notna().any() for a in ("v", "K")):
        return written  # SINE's v-K plots; a protocol whose methods do not include SINE
    if x and y and x != y:
        for over, lines in (("v", "K"), ("K", "v")):
            path = out / f"tradeoff_over_{over}.png"
            tradeoff(cells, x, y, over, lines, path)
            written.append(path)
    for axis, lines in (("K", "v"), ("v", "K")):
        path = out / f"metrics_vs_{axis}.png"
        metric_vs(cells, numeric, axis, lines, path)
        written.append(path)
    return written
