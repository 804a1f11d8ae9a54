"""``sine-bench datasets check``: what a folder holds, and bad input as one line, exit 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.protocol.dataset import read_dataset
from sine_bench.protocol.loading import parse_protocol
from tests.datasets.fixtures import write_pie_bench, write_tedbench

runner = CliRunner()


def test_check_reports_items_prompts_masks_types_and_the_run_hash(tmp_path):
    write_pie_bench(tmp_path / "pie")
    result = runner.invoke(app, ["datasets", "check", str(tmp_path / "pie")])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.strip().splitlines())
    assert lines["items"] == "3" and lines["masks"] == "3 of 3 edits"
    assert lines["edit"] == "types 1: 2, 9: 1"
    spec = {"name": "x", "dataset": str(tmp_path / "pie"), "store": str(tmp_path / "s")}
    assert lines["content"] == f"sha256:{read_dataset(parse_protocol(spec)).content_hash}"
    assert not (tmp_path / "pie" / "datasets").exists()  # derived files went elsewhere
    only = runner.invoke(app, ["datasets", "check", str(tmp_path / "pie"), "--types", "9"])
    assert "items      1" in only.output


def test_check_names_tedbench_items_without_a_source(tmp_path):
    write_tedbench(tmp_path / "ted")
    result = runner.invoke(app, ["datasets", "check", str(tmp_path / "ted")])
    assert result.exit_code == 0, result.output
    assert "prompts    3 (item x prompt edits)" in result.output
    assert "2 items have no source caption (ddim-inversion is refused on them)" in result.output


def test_a_mask_of_the_wrong_length_is_one_error_line_exit_2(tmp_path):
    mapping = write_pie_bench(tmp_path / "pie")
    mapping["111000000000"]["mask"] = [3]
    (tmp_path / "pie" / "mapping_file.json").write_text(json.dumps(mapping))
    result = runner.invoke(app, ["datasets", "check", str(tmp_path / "pie")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1
    assert lines[0].startswith("error: ") and "mapping_file.json: entry '111000000000'" in lines[0]
