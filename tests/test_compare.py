"""The drift gate: passes on an unchanged run, fails beyond tolerance, accepts a baseline."""

import json

from typer.testing import CliRunner

from sine_bench.cli import app

runner = CliRunner()


def _baseline(small_run, tmp_path):
    _, out, _ = small_run
    path = tmp_path / "baseline.json"
    result = runner.invoke(app, ["compare", str(out), "--baseline", str(path), "--write-baseline"])
    assert result.exit_code == 0, result.output
    return out, path


def test_unchanged_run_passes(small_run, tmp_path):
    out, baseline = _baseline(small_run, tmp_path)
    result = runner.invoke(app, ["compare", str(out), "--baseline", str(baseline)])
    assert result.exit_code == 0, result.output
    assert "0 drifted" in result.output
    assert json.loads(baseline.read_text())["protocol"] == "test-small"


def test_run_vs_run_passes(small_run):
    _, out, _ = small_run
    result = runner.invoke(app, ["compare", str(out), "--baseline", str(out)])
    assert result.exit_code == 0, result.output


def test_perturbed_baseline_fails_with_a_table(small_run, tmp_path):
    out, baseline = _baseline(small_run, tmp_path)
    data = json.loads(baseline.read_text())
    data["rows"][0]["metrics"]["psnr"] += 1.0  # tolerance: 1e-3 + 1% of ~7 dB
    data["rows"][1]["metrics"]["ssim"] += 1e-5  # within tolerance: not drift
    baseline.write_text(json.dumps(data))
    result = runner.invoke(app, ["compare", str(out), "--baseline", str(baseline)])
    assert result.exit_code == 1, result.output
    assert "1 drifted" in result.output
    drift_lines = [line for line in result.output.splitlines() if line.startswith("DRIFT")]
    assert len(drift_lines) == 1 and "psnr" in drift_lines[0]


def test_missing_metric_is_drift(small_run, tmp_path):
    out, baseline = _baseline(small_run, tmp_path)
    data = json.loads(baseline.read_text())
    data["rows"][0]["metrics"]["clip_t[gone]"] = 1.0
    baseline.write_text(json.dumps(data))
    result = runner.invoke(app, ["compare", str(out), "--baseline", str(baseline)])
    assert result.exit_code == 1 and "missing" in result.output


def test_bad_baseline_is_exit_2(small_run, tmp_path):
    _, out, _ = small_run
    result = runner.invoke(app, ["compare", str(out), "--baseline", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "nope.json: not found" in result.output


BAD_BASELINES = [
    (b"\xff\xfe not text", "not valid JSON"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "no list of 'rows'"),
    (b'{"rows": 5}', "no list of 'rows'"),
    (b'{"rows": [5]}', "rows[0] has no 'axes' mapping"),
    (b'{"rows": [{"axes": {}}]}', "rows[0] has no 'metrics' mapping"),
    (b'{"rows": [{"axes": {}, "metrics": {"psnr": "high"}}]}', "is not a finite number"),
    (b'{"rows": [{"axes": {}, "metrics": {"psnr": 1' + b"0" * 400 + b"}}]}", "finite number"),
    (b'{"rows": [{"axes": {}, "metrics": {"psnr": true}}]}', "is not a finite number"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
]


def test_malformed_baselines_are_one_line_exit_2(small_run, tmp_path):
    """Malformed baselines used to end in KeyError / TypeError tracebacks."""
    _, out, _ = small_run
    for index, (content, needle) in enumerate(BAD_BASELINES):
        path = tmp_path / f"baseline-{index}.json"
        path.write_bytes(content)
        result = runner.invoke(app, ["compare", str(out), "--baseline", str(path)])
        assert result.exit_code == 2, (index, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.output
        assert needle in lines[0], (index, lines[0])


def test_a_run_with_a_malformed_protocol_is_one_line_exit_2(small_run, tmp_path):
    import shutil

    _, out, _ = small_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    for content, needle in [
        ("regression: {default: {abs: -1}}\n", "regression.default.abs"),
        ("regression: [1]\n", "regression"),
        ("a: 1\na: 2\n", "found the key 'a' twice"),
    ]:
        (copy / "protocol.yaml").write_text(content)
        result = runner.invoke(app, ["compare", str(copy), "--baseline", str(out)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: {copy / 'protocol.yaml'}: "), result.output
        assert needle in result.output and len(result.output.strip().splitlines()) == 1


def test_write_baseline_overwrites_only_a_baseline(tmp_path):
    """`compare --write-baseline` wrote over whatever file regression.baseline named."""
    from sine_bench.compare import write_baseline

    run = tmp_path / "run"
    run.mkdir()
    summary = {"rows": [{"axes": {"v": 0.5}, "metrics": {"psnr": 20.0}}]}
    (run / "summary.json").write_text(json.dumps(summary))
    from sine_bench.runner.ownership import write_marker

    write_marker(run)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    result = runner.invoke(app, ["compare", str(run), "--baseline", str(notes), "--write-baseline"])
    assert result.exit_code == 2, result.output
    assert (
        result.output.startswith("error: --write-baseline: ")
        and "not a sine-bench baseline" in result.output
    )
    assert notes.read_text() == "my notes"
    folder = tmp_path / "folder"
    folder.mkdir()
    assert (
        runner.invoke(
            app, ["compare", str(run), "--baseline", str(folder), "--write-baseline"]
        ).exit_code
        == 2
    )
    new = write_baseline(run, tmp_path / "new.json")  # a new path, then the baseline itself
    assert write_baseline(run, new) == new
    assert json.loads(new.read_text())["rows"] == summary["rows"]


# ---------------------------------------------------------------- synthetic summaries


def _summary(**metrics) -> dict:
    return {"rows": [{"axes": {"v": 0.7, "K": 400}, "metrics": metrics}]}


def _changes(run: dict, baseline: dict):
    from sine_bench import compare as gate

    return {c.metric: c for c in gate.compare(run, baseline, gate.RegressionSpec())}


def test_moves_are_read_by_each_familys_direction():
    base = _summary(**{"st_lpips[alex]": 0.30, "clip_t[toy]": 70.0, "oracle_count": 2.0})
    run = _summary(**{"st_lpips[alex]": 0.40, "clip_t[toy]": 75.0, "oracle_count": 3.0})
    changes = _changes(run, base)
    assert changes["st_lpips[alex]"].moved == "worse"  # lower LPIPS is better
    assert changes["clip_t[toy]"].moved == "better"
    assert changes["oracle_count"].moved == ""  # a diagnostic: neither direction
    assert all(c.drifted for c in changes.values())


def test_a_value_outside_its_range_is_drift_even_within_tolerance():
    from sine_bench import compare as gate

    loose = gate.RegressionSpec(default=gate.Tolerance(abs=0.5, rel=0.0))
    base, run = _summary(oracle_faithful=0.9), _summary(oracle_faithful=1.3)
    (change,) = gate.compare(run, base, loose)
    assert abs(change.delta) <= change.limit and change.out_of_range and change.drifted
    assert "out of range" in gate.format_table([change])
    # float rounding just past a bound is within the allowance
    edge = _changes(_summary(prompt_insensitivity=1.0000001), _summary(prompt_insensitivity=1.0))
    assert not edge["prompt_insensitivity"].drifted


def test_unknown_columns_and_missing_values():
    changes = _changes(_summary(custom=5.0), _summary(custom=5.0, psnr=20.0))
    assert not changes["custom"].drifted and changes["custom"].moved == ""
    assert changes["psnr"].run is None and changes["psnr"].drifted
    assert changes["psnr"].moved == ""


def test_the_table_shows_only_what_moved_with_its_direction():
    from sine_bench import compare as gate

    changes = _changes(_summary(psnr=21.0, ssim=0.5), _summary(psnr=20.0, ssim=0.5))
    table = gate.format_table(list(changes.values()))
    lines = table.splitlines()
    assert len(lines) == 2 and lines[1].startswith("DRIFT") and "psnr" in lines[1]
    assert "better" in lines[1] and "v=0.7, K=400" in lines[1]
    unchanged = _changes(_summary(ssim=0.5), _summary(ssim=0.5))
    assert gate.format_table(list(unchanged.values())) == "no metric moved"


def _one_error(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: "), result.output
    return lines[0]


def test_a_missing_or_non_run_folder_is_named(small_run, tmp_path):
    """Both said "--baseline: none given" (the run's protocol was never found)."""
    _, out, _ = small_run
    line = _one_error(runner.invoke(app, ["compare", str(tmp_path / "gone")]))
    assert f"{tmp_path / 'gone'}: no such folder" in line and "--baseline" not in line
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    line = _one_error(runner.invoke(app, ["compare", str(folder), "--baseline", str(out)]))
    assert f"{folder}: not a run directory" in line
    line = _one_error(runner.invoke(app, ["compare", str(out), "--baseline", str(folder)]))
    assert f"{folder}: not a run directory" in line


def test_a_half_written_run_directory_is_refused_by_compare_and_reproduce(small_run, tmp_path):
    import shutil

    from sine_bench.runner.ownership import MARKER

    _, out, _ = small_run
    killed = tmp_path / f".{out.name}.tmp-abc123"  # what a SIGKILL during the write leaves
    shutil.copytree(out, killed)
    (killed / MARKER).unlink()
    (killed / "report.html").unlink()
    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    (partial / "summary.json").unlink()  # listed in the marker, gone
    unmarked = tmp_path / "unmarked"
    shutil.copytree(killed, unmarked)
    for folder, needle in (
        (killed, "still being written, or left by a killed run"),
        (partial, "half-written run directory (summary.json missing"),
        (unmarked, f"half-written run directory (no {MARKER}"),
    ):
        line = _one_error(runner.invoke(app, ["compare", str(folder), "--baseline", str(out)]))
        assert needle in line, line
        line = _one_error(runner.invoke(app, ["compare", str(out), "--baseline", str(folder)]))
        assert needle in line, line
        result = runner.invoke(app, ["reproduce-report", str(folder), "--out", str(tmp_path / "r")])
        assert needle in _one_error(result)
    assert not (tmp_path / "r").exists()


def test_a_baseline_of_another_protocol_names_the_mismatch(small_run, tmp_path):
    """It reported every value as drifted."""
    out, path = _baseline(small_run, tmp_path)
    data = json.loads(path.read_text())
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data | {"protocol": "toy-smoke"}))
    line = _one_error(runner.invoke(app, ["compare", str(out), "--baseline", str(other)]))
    assert "a baseline of protocol 'toy-smoke', the run" in line and "'test-small'" in line
    for row in data["rows"]:
        row["axes"] = {"v": 0.123, "K": 7}
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(data | {"protocol": None}))
    line = _one_error(runner.invoke(app, ["compare", str(out), "--baseline", str(moved)]))
    assert "none of its" in line and "rows is a row of the run" in line


def test_a_relative_baseline_from_another_folder_says_where_it_looked(
    small_run, tmp_path, monkeypatch
):
    import shutil

    import yaml

    from sine_bench.runner.ownership import write_marker

    out, path = _baseline(small_run, tmp_path)
    run = tmp_path / "run"
    shutil.copytree(out, run)
    protocol = yaml.safe_load((run / "protocol.yaml").read_text())
    protocol["regression"]["baseline"] = "baselines/mine.json"
    (run / "protocol.yaml").write_text(yaml.safe_dump(protocol))
    write_marker(run)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    line = _one_error(runner.invoke(app, ["compare", str(run)]))
    assert (
        f"regression.baseline (the run's protocol) baselines/mine.json (relative to {elsewhere})"
        in line
    )
    assert "not found" in line


def test_a_limited_run_is_never_compared_with_a_full_baseline(small_run, limited_run, tmp_path):
    out, baseline = _baseline(small_run, tmp_path)
    for target in (baseline, out):
        result = runner.invoke(app, ["compare", str(limited_run), "--baseline", str(target)])
        assert result.exit_code == 2, result.output
        assert "the first 1 of 2 items (--limit)" in result.output
        assert "not comparable" in result.output and len(result.output.splitlines()) == 1


def test_a_limited_baseline_is_a_named_file_compared_only_with_the_same_items(
    small_run, limited_run, tmp_path, monkeypatch
):
    """A limited run (the suite's toy-smoke) may be a baseline of limited runs, in a file
    named by --baseline that records its limit; never the protocol's own baseline."""
    import shutil

    import yaml

    from sine_bench.runner.ownership import write_marker

    _, full, _ = small_run
    own = tmp_path / "limited.json"
    args = ["compare", str(limited_run), "--baseline", str(own)]
    result = runner.invoke(app, [*args, "--write-baseline"])
    assert result.exit_code == 0, result.output
    record = json.loads(own.read_text())
    assert record["dataset_limit"] == {"requested": 1, "items": 1, "of": 2, "limited": True}
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "0 drifted" in result.output, result.output
    result = runner.invoke(app, ["compare", str(full), "--baseline", str(own)])
    assert result.exit_code == 2 and "not comparable" in result.output
    # the protocol's own baseline, named or not, never takes a limited run
    run = tmp_path / "run"
    shutil.copytree(limited_run, run)
    protocol = yaml.safe_load((run / "protocol.yaml").read_text())
    protocol["regression"] = {"baseline": "mine.json"}
    (run / "protocol.yaml").write_text(yaml.safe_dump(protocol))
    write_marker(run)
    monkeypatch.chdir(tmp_path)
    for named in ([], ["--baseline", str(tmp_path / "mine.json")]):
        result = runner.invoke(app, ["compare", str(run), *named, "--write-baseline"])
        assert result.exit_code == 2 and "never the protocol's baseline" in result.output
        assert not (tmp_path / "mine.json").exists()
