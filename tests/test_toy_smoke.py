"""The CI smoke protocol runs end to end on its dataset's first five sources and passes
the drift gate against their committed baseline. (The README's job, all twelve, is
checked against results/baselines/toy-smoke.json when that is rewritten: the suite
cannot afford it.)"""

from sine_bench import compare as gate
from tests.helpers import ROOT

# the widest 95% interval (over the five source images) the headline faithful rate may have
WIDEST_HEADLINE_INTERVAL = 0.65


def test_toy_smoke_passes_its_committed_baseline(toy_smoke_local):
    out, baseline = toy_smoke_local, ROOT / "results" / "baselines" / "toy-smoke-limit-5.json"
    run, base = gate.load_summary(out), gate.load_summary(baseline)
    gate.check_comparable(out, run, baseline, base)  # the same five items, the same grid
    changes = gate.compare(run, base, gate.regression_spec(out))
    drifted = [c for c in changes if c.drifted]
    assert changes and not drifted, gate.format_table(drifted)


def test_toy_smoke_shows_edits_that_keep_the_layout(toy_smoke_local):
    """The README's main job: its best setting makes faithful edits (the asked change,
    the source's layout kept) far more often than the pretrained model alone, whose
    edits are right but redraw the scene; the fine-tuned model alone copies."""
    import pandas as pd

    from sine_bench.report.cells import metric_column

    frontier = pd.read_csv(toy_smoke_local / "frontier.csv").fillna({"role": ""})
    best = frontier[frontier["best"]].iloc[0]
    pretrained = frontier[frontier["role"] == "pretrained only"].iloc[0]
    copied = frontier[frontier["role"] == "fine-tuned only"].iloc[0]
    assert best["oracle_faithful"] >= pretrained["oracle_faithful"] + 0.3
    assert pretrained["oracle_edit_success"] > 0.9 and pretrained["oracle_structure"] < 0.5
    lpips = metric_column(frontier, "lpips")  # st_lpips[alex] offline, lpips[alex] if cached
    assert copied["oracle_edit_success"] < 0.5 and copied[lpips] < 0.25
    html = (toy_smoke_local / "report.html").read_text()
    assert html.index("What the edits do: the frontier") < html.index("What ran")


def test_toy_smoke_reports_the_edit_score(toy_smoke_local):
    """issue 16: the joint score is in the default protocol's frontier table and report,
    with its reference rows near their calibrated ends: the fine-tuned-only sample near
    alignment 0 and fidelity 1 (the fidelity weight), the pretrained-only one near
    alignment 1 and fidelity 0 (1). Near, not at: each seed's sample is compared with
    the mean over the run's seeds, and both terms are clipped to [0, 1]."""
    import pandas as pd

    from sine_bench.metrics.edit_score import FIDELITY_WEIGHT
    from sine_bench.report.cells import metric_column

    frontier = pd.read_csv(toy_smoke_local / "frontier.csv").fillna({"role": ""})
    score = metric_column(frontier, "edit_score")
    assert score and score.startswith("edit_score[toy+")
    copied = frontier[frontier["role"] == "fine-tuned only"].iloc[0]
    pretrained = frontier[frontier["role"] == "pretrained only"].iloc[0]
    assert FIDELITY_WEIGHT - 0.25 <= copied[score] <= FIDELITY_WEIGHT + 0.25
    assert 0.9 <= pretrained[score] <= 1.25
    best = frontier[frontier["best"]].iloc[0]
    assert best[score] > max(copied[score], pretrained[score])
    assert score in (toy_smoke_local / "report.html").read_text()


def test_toy_smoke_headline_interval_is_informative(toy_smoke_local):
    """issue 24: on the first five source images (three not square) the best setting's
    faithful interval is at most 0.65 wide (the README's twelve narrow it further); the
    run's last lines name the best setting and both references, and
    summary/resolution.md gives each source size its frontier."""
    import json

    import pandas as pd

    from sine_bench.report.resolution import run_summary_lines

    frontier = pd.read_csv(toy_smoke_local / "frontier.csv").fillna({"role": ""})
    best = frontier[frontier["best"]].iloc[0]
    assert best["images"] == 5
    assert best["oracle_faithful_hi"] - best["oracle_faithful_lo"] <= WIDEST_HEADLINE_INTERVAL
    axes = json.loads((toy_smoke_local / "manifest.json").read_text())["axes"]
    lines = run_summary_lines(toy_smoke_local, axes)
    text = "\n".join(lines)
    assert "best setting" in text and "fine-tuned only" in text and "pretrained only" in text
    assert sum("W:H" in line for line in lines) == 4  # 64x64, 64x96, 96x64, 64x128
    assert "## 64x128 (W:H 2:1)" in (toy_smoke_local / "summary" / "resolution.md").read_text()
