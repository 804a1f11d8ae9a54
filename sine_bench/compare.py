"""The drift gate: compare a run's summary with a baseline (or another run).

Rows are matched by their grid-axis values; each summary metric may move by at most
``abs + rel * |baseline|`` (tolerances from the run's protocol: per metric label,
then per family, then the default). A metric missing on one side is drift, and so is
a value outside its family's range (a broken scorer, whatever the tolerance). The
table says whether each move is better or worse, by the family's direction
(``metrics.families``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .errors import InputError, one_line
from .fileio import write_atomic
from .metrics.families import family_record
from .metrics.names import family_of
from .protocol.sections import RegressionSpec, Tolerance
from .protocol.strict_yaml import read_yaml_file
from .runner.finished import run_dir_problem, where


class CompareError(InputError):
    """A run directory or baseline that cannot be read."""


@dataclass(frozen=True)
class Change:
    axes: dict
    metric: str
    baseline: float | None
    run: float | None
    limit: float
    lower: float = -math.inf  # the metric family's range (unbounded for unknown columns)
    upper: float = math.inf
    sign: int = 0  # +1 higher is better, -1 lower is, 0 neither or unknown

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.run is None:
            return None
        return self.run - self.baseline

    @property
    def drifted(self) -> bool:
        if self.baseline is None and self.run is None:
            return False
        if self.delta is None or math.isnan(self.delta):
            return True
        return abs(self.delta) > self.limit or self.out_of_range

    @property
    def out_of_range(self) -> bool:
        """The run's value lies outside the family's range by more than float rounding
        (a float32 cosine can exceed 1 by ~1e-7)."""
        if self.run is None or self.lower <= self.run <= self.upper:
            return False
        bound = self.lower if self.run < self.lower else self.upper
        return not math.isclose(self.run, bound, rel_tol=1e-5, abs_tol=1e-6)

    @property
    def moved(self) -> str:
        """'out of range', 'better', 'worse' or '' (no move, or a metric of no direction)."""
        if self.out_of_range:
            return "out of range"
        if not self.delta or math.isnan(self.delta) or not self.sign:
            return ""
        return "better" if self.delta * self.sign > 0 else "worse"


def check_run_dir(path: str | Path) -> None:
    """CompareError unless ``path`` is a finished run directory (``runner.finished``)."""
    problem = run_dir_problem(Path(path))
    if problem is not None:
        raise CompareError(problem)


def load_summary(path: str | Path, option: str = "") -> dict:
    """summary.json of a finished run directory, or a baseline file. ``option`` (e.g.
    '--baseline') prefixes a missing path's message, which says where a relative one
    was looked for."""
    path = Path(path)
    if not path.exists():
        label = f"{option} " if option else ""
        raise CompareError(
            f"{label}{where(path)}: not found (give a run directory or a baseline JSON; a "
            "relative path is read from the folder the command runs in)"
        )
    if path.is_dir():
        check_run_dir(path)
    file = path / "summary.json" if path.is_dir() else path
    if not file.is_file():
        raise CompareError(f"{file}: no summary found (give a run directory or a baseline JSON)")
    try:
        data = json.loads(file.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CompareError(f"{file}: not valid JSON ({one_line(err)})") from None
    except RecursionError:
        raise CompareError(f"{file}: nested too deeply to be a sine-bench summary") from None
    problem = _summary_problem(data)
    if problem:
        raise CompareError(
            f"{file}: not a sine-bench summary ({problem}; write one with --write-baseline)"
        )
    return data


def _finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too big for a float
        return False


def _summary_problem(data: object) -> str | None:
    """What makes ``data`` unlike summary.json (rows of axes and metric values), if anything."""
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        return "no list of 'rows'"
    for index, row in enumerate(data["rows"]):
        if not isinstance(row, dict) or not isinstance(row.get("axes"), dict):
            return f"rows[{index}] has no 'axes' mapping"
        metrics = row.get("metrics")
        if not isinstance(metrics, dict):
            return f"rows[{index}] has no 'metrics' mapping"
        for name, value in metrics.items():
            if value is not None and not _finite_number(value):
                return f"rows[{index}].metrics[{name!r}] is not a finite number or null"
    return None


def regression_spec(run_dir: str | Path) -> RegressionSpec:
    """The regression section of a run's resolved protocol."""
    protocol = Path(run_dir) / "protocol.yaml"
    if not protocol.is_file():
        return RegressionSpec()
    data = read_yaml_file(protocol, CompareError) or {}
    try:
        return RegressionSpec.model_validate(
            (data.get("regression") if isinstance(data, dict) else None) or {}
        )
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CompareError(
            f"{protocol}: regression.{where}: {first['msg']} (fix the run's protocol.yaml)"
        ) from None


def tolerance(spec: RegressionSpec, metric: str) -> Tolerance:
    family = family_of(metric)
    return spec.tolerances.get(metric) or spec.tolerances.get(family) or spec.default


def _row_key(axes: dict) -> str:
    return json.dumps(axes, sort_keys=True)


def _record(path: str | Path) -> dict | None:
    """A run directory's manifest, or a baseline file, as a dict; None when unreadable."""
    path = Path(path)
    file = path / "manifest.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def protocol_of(path: str | Path) -> str | None:
    """The protocol a run directory (its manifest) or a baseline file was made by."""
    name = (_record(path) or {}).get("protocol")
    return name if isinstance(name, str) else None


def limit_of(path: str | Path) -> dict | None:
    """The dataset limit a run directory's manifest (or a baseline file) records, when
    it kept only the dataset's first items (``run --limit``); None for a full run."""
    data = _record(path)
    if data is None:
        return None
    limit = data.get("dataset_limit")
    if limit is None and isinstance(data.get("dataset"), dict):
        limit = data["dataset"].get("limit")
    return limit if isinstance(limit, dict) and limit.get("limited") else None


def _limit_text(limit: dict | None) -> str:
    if limit is None:
        return "the full dataset"
    return f"the first {limit.get('items')} of {limit.get('of')} items (--limit)"


def check_comparable(run_dir: str | Path, run: dict, target: str | Path, baseline: dict) -> None:
    """CompareError when the baseline cannot be of this run's grid: made by another
    protocol, of other dataset items (a limited run against a full baseline), or
    sharing no row (grid cell) with it. Every value would read as drifted."""
    mine_limit, their_limit = limit_of(run_dir), limit_of(target)
    if mine_limit != their_limit:
        raise CompareError(
            f"--baseline {target}: scored on {_limit_text(their_limit)}, the run {run_dir} on "
            f"{_limit_text(mine_limit)}: not comparable (rerun without --limit)"
        )
    mine, theirs = protocol_of(run_dir), protocol_of(target)
    if mine and theirs and mine != theirs:
        raise CompareError(
            f"--baseline {target}: a baseline of protocol {theirs!r}, the run {run_dir} is of "
            f"{mine!r} (give {mine!r}'s baseline)"
        )
    rows = {_row_key(r["axes"]) for r in run["rows"]}
    if baseline["rows"] and not any(_row_key(r["axes"]) in rows for r in baseline["rows"]):
        axes = sorted({k for r in baseline["rows"] for k in r["axes"]})
        own = sorted({k for r in run["rows"] for k in r["axes"]})
        raise CompareError(
            f"--baseline {target}: none of its {len(baseline['rows'])} rows is a row of the run "
            f"(its axes {axes}, the run's {own}): not a baseline of this grid"
        )


def compare(run: dict, baseline: dict, spec: RegressionSpec) -> list[Change]:
    """Every (row, metric) of the baseline, with the run's value and its allowed move."""
    run_rows = {_row_key(r["axes"]): r for r in run["rows"]}
    changes = []
    for row in baseline["rows"]:
        other = run_rows.get(_row_key(row["axes"]), {"metrics": {}})
        for metric, base in row["metrics"].items():
            tol = tolerance(spec, metric)
            limit = tol.abs + tol.rel * abs(base or 0.0)
            record = family_record(metric)
            bounds = (record.lower, record.upper, record.sign) if record else ()
            value = other["metrics"].get(metric)
            changes.append(Change(row["axes"], metric, base, value, limit, *bounds))
    return changes


def format_table(changes: list[Change], show_all: bool = False) -> str:
    """The rows that moved (all rows with ``show_all``), drifted ones marked."""
    shown = [c for c in changes if show_all or c.drifted or (c.delta or 0.0) != 0.0]
    if not shown:
        return "no metric moved"
    lines = [
        f"{'status':7s} {'metric':28s} {'baseline':>12s} {'run':>12s} {'delta':>11s} "
        f"{'moved':12s} {'allowed':>10s}  axes"
    ]
    for c in shown:
        fmt = lambda x: "missing" if x is None else f"{x:.6g}"  # noqa: E731
        axes = ", ".join(f"{k}={v}" for k, v in c.axes.items())
        lines.append(
            f"{'DRIFT' if c.drifted else 'ok':7s} {c.metric:28s} {fmt(c.baseline):>12s} "
            f"{fmt(c.run):>12s} {fmt(c.delta):>11s} {c.moved:12s} {c.limit:>10.3g}  {axes}"
        )
    return "\n".join(lines)


def write_baseline(run_dir: str | Path, path: str | Path, limited_ok: bool = False) -> Path:
    """Accept a run's summary as the new baseline (with where it came from). Only a new
    path or a file that already is a sine-bench summary or baseline is written: never a
    folder or an arbitrary file that happens to be named there. A limited run
    (``run --limit``) is a baseline only with ``limited_ok`` (a file the caller named,
    never the protocol's own): it records its limit, so only a run of the same items
    compares with it (``check_comparable``)."""
    summary = load_summary(run_dir)
    limit = limit_of(run_dir)
    if limit is not None and not limited_ok:
        raise CompareError(
            f"{run_dir}: a run of {_limit_text(limit)} is never the protocol's baseline "
            "(rerun without --limit, then --write-baseline; or name a file of its own with "
            "--baseline for a baseline of limited runs)"
        )
    _check_overwritable(Path(path))
    manifest_file = Path(run_dir) / "manifest.json"
    try:
        manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = {}  # provenance is optional; the summary itself was checked
    manifest = manifest if isinstance(manifest, dict) else {}
    record = {
        "protocol": manifest.get("protocol"),
        "git_commit": manifest.get("git_commit"),
        "method_version": manifest.get("method_version"),
        "model_identity": manifest.get("model_identity"),
        **({"dataset_limit": limit} if limit is not None else {}),
        **summary,
    }
    write_atomic(path, json.dumps(record, indent=1))
    return Path(path)


def _check_overwritable(path: Path) -> None:
    """Raise CompareError unless ``path`` is free or a baseline this gate recognises."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_file():
        raise CompareError(
            f"--write-baseline: {path} exists and is not a file; not overwritten "
            "(give a baseline file or a new path)"
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        data = None
    if data is None or _summary_problem(data) is not None:
        raise CompareError(
            f"--write-baseline: {path} exists and is not a sine-bench baseline; not "
            "overwritten (remove it yourself or give a new path)"
        )
