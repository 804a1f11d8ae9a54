"""Keys never move unless the pixels do: every protocol in protocols/ that plans offline
plans exactly the fine-tune, edit, unit and score keys pinned in tests/data/protocol_keys.json.

A restructuring may change how keys are computed, never what they are. Regenerate the pins
only for a change that changes pixels or scores (``python -m tests.runner.test_key_pins``),
and say so in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PINS = ROOT / "tests" / "data" / "protocol_keys.json"


def planned_keys(path: Path) -> dict[str, str]:
    """A digest per kind of key of everything ``path`` plans (sorted, so order-free)."""
    from sine_bench.metrics import registry
    from sine_bench.protocol.loading import load_protocol
    from sine_bench.runner.keys import digest, score_key
    from sine_bench.runner.plan import build_plan
    from sine_bench.runner.scoring import score_context, score_keys

    plan = build_plan(load_protocol(path), ROOT)
    cell_scores = []
    for cell in plan.cells:
        cell_scores += score_keys(plan, cell, score_context(plan, cell)).values()
    group_scores = []
    for metric in (m for m in plan.metrics if m.info.scope == "group"):
        drop = "prompt" if metric.family == "prompt_insensitivity" else "seed"
        groups: dict[str, list[str]] = {}
        for cell in plan.cells:
            ident = {"item": cell.cell.item, "axes": {k: v for k, v in cell.cell.axes if k != drop}}
            if drop != "prompt":
                ident["prompt"] = cell.cell.prompt_index
            groups.setdefault(digest(ident), []).append(cell.edit)
        for edits in groups.values():
            ident = registry.score_identity(metric)
            group_scores.append(score_key(digest(sorted(edits)), metric.text, ident))
    reference_scores = []  # a methods run's reference rows (runner/reference_cells.py)
    for cell in plan.reference_cells:
        reference_scores += score_keys(plan, cell, score_context(plan, cell)).values()
    pins = {
        "cells": str(len(plan.cells)),
        "finetunes": digest(sorted(plan.finetunes)),
        "edits": digest(sorted(plan.edits)),
        "cell_edits": digest([c.edit for c in plan.cells]),
        "units": digest(sorted(u.key for u in plan.units)),
        "scores": digest(sorted(cell_scores)),
        "group_scores": digest(sorted(group_scores)),
    }
    if reference_scores:  # added where a protocol has them: no earlier pin moves
        pins["reference_scores"] = digest(sorted(reference_scores))
    return pins


def offline_protocols() -> list[Path]:
    return sorted(p for p in (ROOT / "protocols").glob("*.yaml") if p.stem in _pins())


def _pins() -> dict:
    return json.loads(PINS.read_text())


@pytest.mark.parametrize("path", offline_protocols(), ids=lambda p: p.stem)
def test_protocol_plans_its_pinned_keys(path: Path) -> None:
    assert planned_keys(path) == _pins()[path.stem]


def names_plugins(path: Path) -> bool:
    """Whether a protocol's own ``methods`` lists a method sine-bench does not ship: a
    plug-in's keys carry how it is installed (its version, or its source's hash when
    editable), so they are not pinned here (the shipped methods' are, by the protocols
    that list them)."""
    import yaml

    from sine_bench.protocol.method_checks import SHIPPED_METHODS

    methods = (yaml.safe_load(path.read_text()) or {}).get("methods") or {}
    return any(name not in SHIPPED_METHODS for name in methods)


def test_pins_cover_the_protocols() -> None:
    """Every toy/ci/paper protocol is pinned (sd14 ones need hub configs to plan), but
    for those naming plug-ins."""
    protocols = [p for p in (ROOT / "protocols").glob("*.yaml") if not p.stem.startswith("sd14")]
    names = {p.stem for p in protocols if not names_plugins(p)}
    assert names <= set(_pins())
    assert "paper-baselines-npi" not in names  # the example plug-in's comparison


if __name__ == "__main__":
    pins = {}
    for protocol in sorted((ROOT / "protocols").glob("*.yaml")):
        if names_plugins(protocol):
            continue
        try:
            pins[protocol.stem] = planned_keys(protocol)
        except Exception as exc:  # noqa: BLE001 - a protocol that needs a download is skipped
            print(f"skip {protocol.stem}: {type(exc).__name__}: {exc}", file=sys.stderr)
    PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
    print(f"pinned {len(pins)} protocols")
