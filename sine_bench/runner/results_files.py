"""A run's results in the shape the field publishes: ``samples.jsonl`` (one line per
scored edit) and ``results.json`` (what the numbers were computed on and with).

Both are derived from the cells table and the manifest, so they say nothing the run
directory does not; they exist so a run can be read by tools that know the common
layout (a per-sample file plus a run record) without reading sine-bench's tables.
Distinct from what ``sine-bench score`` reads: that is a list of edits made elsewhere;
this is what a run scored. Formats: docs/benchmarks.md, "Results in the field's shape".
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..fileio import file_sha256, write_atomic
from ..protocol.root import Protocol
from .keys import digest
from .ownership import RESULTS, SAMPLES
from .plan import RunPlan

SAMPLES_FORMAT = "sine-bench.samples/1"  # bump when a line's fields change meaning
RESULTS_FORMAT = "sine-bench.results/1"
# protocol fields that do not change what a run computes (where it writes, what it is
# called, how compare judges it); the dataset enters through its content hash
_NOT_CONTENT = {"name", "output", "store", "regression", "dataset"}


def protocol_hash(protocol: Protocol, dataset: dict) -> str:
    """sha256 prefix of what the protocol computes: its resolved fields without name,
    output, store and regression, the dataset as its content hash, format, types and
    limit. Equal for two protocol files that compute the same cells on the same bytes."""
    fields = protocol.model_dump(mode="json", exclude=_NOT_CONTENT)
    spec = protocol.dataset
    fields["dataset"] = {
        "content_hash": dataset.get("content_hash"),
        "format": spec.format,
        "types": spec.types,
        "limit": spec.limit,
    }
    return digest(fields)


def scoring_hash(protocol: Protocol) -> str:
    """sha256 prefix of how edits are scored (size, resampling): two runs whose scoring
    hashes differ measured the same metric on differently prepared pixels."""
    return digest(protocol.scoring.model_dump(mode="json"))


def _plain(value: object) -> object:
    """JSON's value for a table entry: NaN and missing are null, numpy scalars unwrapped."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def sample_lines(
    plan: RunPlan, cells: pd.DataFrame, axes: list[str], metrics: list[str], folder: Path
) -> list[str]:
    """One JSON line per cell of the cells table (in its order), hashing the source
    and edit images as written under ``folder``."""
    costs = [c for c in cells.columns if c.startswith("cost.")]
    edit_shas: dict[str, str] = {}
    lines = []
    for _, row in cells.iterrows():
        image = str(row["image"])
        if image not in edit_shas:
            edit_shas[image] = file_sha256(folder / image)
        item = plan.items[row["item"]]
        record = {
            "id": row["cell_id"],
            "item": row["item"],
            "edit_type": _plain(row.get("edit_type")),
            "prompt_index": int(row["prompt_index"]),
            "prompt": row["prompt"],
            "source_prompt": item.spec.source,
            "method": row["method"],
            # the cell's own settings: axes that are not its method's are left out
            "settings": {a: _plain(row[a]) for a in axes if _plain(row[a]) is not None},
            "size": [int(row["height"]), int(row["width"])],
            "keys": {"finetune": _plain(row["finetune_key"]) or None, "edit": row["edit_key"]},
            "source_sha256": plan.image_sha[row["item"]],
            "edit_sha256": edit_shas[image],
            "source_image": f"images/source/{row['item']}.png",
            "edit_image": image,
            "metrics": {m: _plain(row[m]) for m in metrics},
            "cost": {c.removeprefix("cost."): _plain(row[c]) for c in costs},
        }
        lines.append(json.dumps(record, sort_keys=False, allow_nan=False))
    return lines


def results_record(
    plan: RunPlan, manifest: dict, cells: pd.DataFrame, axes: list[str], metrics: list[str]
) -> dict:
    """The run record: the manifest's environment (git, libraries, device), the
    dataset's and protocol's hashes, seeds, and what the samples file holds."""
    protocol = plan.protocol
    seeds = sorted({int(s) for s in cells["seed"].dropna()}) if "seed" in cells else []
    dataset = dict(plan.dataset)
    return {
        "format": RESULTS_FORMAT,
        "protocol": protocol.name,
        "protocol_sha256": protocol_hash(protocol, dataset),
        "scoring_sha256": scoring_hash(protocol),
        "dataset": dataset,
        "limited": bool(dataset.get("limit", {}).get("limited", False)),
        "model_identity": manifest.get("model_identity"),
        "seeds": seeds,
        "model_seed": protocol.model.seed,
        "methods": list(dict.fromkeys(cells["method"])),
        "axes": axes,
        "metrics": metrics,
        "metric_backbones": manifest.get("metric_backbones", {}),
        "samples": {"file": SAMPLES, "format": SAMPLES_FORMAT, "lines": len(cells)},
        **({"references": manifest["references"]} if "references" in manifest else {}),
        "git_commit": manifest.get("git_commit"),
        "sine_bench": manifest.get("sine_bench"),
        "method_version": manifest.get("method_version"),
        "libraries": manifest.get("libraries"),
        "device": manifest.get("device"),
    }


def write_results_files(
    plan: RunPlan,
    manifest: dict,
    cells: pd.DataFrame,
    axes: list[str],
    metrics: list[str],
    folder: Path,
) -> dict:
    """Write samples.jsonl, then results.json (naming the samples file's sha256) into
    the run directory being assembled in ``folder`` (its images already copied);
    returns the record."""
    record = results_record(plan, manifest, cells, axes, metrics)
    lines = sample_lines(plan, cells, axes, metrics, folder)
    write_atomic(folder / SAMPLES, "".join(line + "\n" for line in lines))
    record["samples"]["sha256"] = file_sha256(folder / SAMPLES)
    write_atomic(folder / RESULTS, json.dumps(record, indent=1, default=str))
    return record
