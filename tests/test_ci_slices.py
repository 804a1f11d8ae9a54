"""CI slices of the paper's trends: each runs end to end, passes the drift gate against
its committed baseline, and keeps the direction the paper claims (and the full toy
protocols measure: docs/reproduction.md), so a change that breaks a trend fails CI."""

import pytest
import yaml

from sine_bench import compare as gate
from sine_bench.report import reproduction as rep
from sine_bench.runner.run import run_protocol
from tests.helpers import ROOT


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for both slices: they share their sine-full fine-tunes."""
    return tmp_path_factory.mktemp("ci-store")


def _run(tmp_path_factory, store, name: str):
    tmp = tmp_path_factory.mktemp(name)
    protocol = tmp / f"{name}-here.yaml"
    protocol.write_text(
        yaml.safe_dump(
            {
                "include": str(ROOT / "protocols" / f"{name}.yaml"),
                "dataset": str(ROOT / "datasets" / "ci-paper-slice"),
                "output": str(tmp / "run"),
                "store": str(store),
            }
        )
    )
    return run_protocol(protocol, progress=False, threads=1, log=lambda *_: None)


@pytest.fixture(scope="module")
def k_trend(tmp_path_factory, store):
    return _run(tmp_path_factory, store, "ci-k-trend")


@pytest.fixture(scope="module")
def nonsquare(tmp_path_factory, store):
    return _run(tmp_path_factory, store, "ci-nonsquare")


@pytest.mark.parametrize("fixture", ["k_trend", "nonsquare"])
def test_slice_passes_its_committed_baseline(fixture, request):
    out = request.getfixturevalue(fixture)
    name = {"k_trend": "ci-k-trend", "nonsquare": "ci-nonsquare"}[fixture]
    changes = gate.compare(
        gate.load_summary(out),
        gate.load_summary(ROOT / "results" / "baselines" / f"{name}.json"),
        gate.regression_spec(out),
    )
    drifted = [c for c in changes if c.drifted]
    assert changes and not drifted, gate.format_table(drifted)


def test_text_alignment_rises_from_k0_to_k1000(k_trend):
    cells = rep.load_run(k_trend)
    means = cells.groupby("K")[["clip_t[toy]", "oracle_edit_success"]].mean()
    assert means.loc[1000, "clip_t[toy]"] > means.loc[0, "clip_t[toy]"]
    assert means.loc[1000, "oracle_edit_success"] >= means.loc[0, "oracle_edit_success"]
    [trends] = rep.analyse(cells).trends.values()
    clip_t = next(t for t in trends if t.metric == "clip_t[toy]")
    assert clip_t.rho > 0  # rank correlation with K over all cells


def test_plain_finetune_duplicates_objects_at_non_square_sizes(nonsquare):
    """The problem the paper's patch fine-tuning addresses is present: sine-full edits
    carry more objects at 1:2 and 2:1 than at the native square size."""
    cells = rep.load_run(nonsquare)
    full = cells[cells["finetune.method"] == "sine-full"]
    square = full[full["height"] == full["width"]]["oracle_count"].mean()
    for (h, w), group in full[full["height"] != full["width"]].groupby(["height", "width"]):
        assert group["oracle_count"].mean() > square, (h, w)
