"""The CI smoke protocol runs end to end and passes the drift gate against its
committed baseline."""

import yaml

from sine_bench import compare as gate
from sine_bench.runner.run import run_protocol
from tests.conftest import ROOT


def test_toy_smoke_passes_its_committed_baseline(tmp_path):
    protocol = tmp_path / "toy-smoke-here.yaml"
    protocol.write_text(
        yaml.safe_dump(
            {
                "include": str(ROOT / "protocols" / "toy-smoke.yaml"),
                "dataset": str(ROOT / "datasets" / "toy-smoke"),
                "output": str(tmp_path / "run"),
                "store": str(tmp_path / "store"),
            }
        )
    )
    out = run_protocol(protocol, progress=False, threads=1, log=lambda *_: None)
    changes = gate.compare(
        gate.load_summary(out),
        gate.load_summary(ROOT / "results" / "baselines" / "toy-smoke.json"),
        gate.regression_spec(out),
    )
    drifted = [c for c in changes if c.drifted]
    assert changes and not drifted, gate.format_table(drifted)
