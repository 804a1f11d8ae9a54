"""The CI smoke protocol runs end to end and passes the drift gate against its
committed baseline."""

from sine_bench import compare as gate
from tests.conftest import ROOT


def test_toy_smoke_passes_its_committed_baseline(toy_smoke_local):
    out = toy_smoke_local
    changes = gate.compare(
        gate.load_summary(out),
        gate.load_summary(ROOT / "results" / "baselines" / "toy-smoke.json"),
        gate.regression_spec(out),
    )
    drifted = [c for c in changes if c.drifted]
    assert changes and not drifted, gate.format_table(drifted)
