"""dataset.limit (``run --limit``): the first N items or a fraction, checked in one line."""

import pytest
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.protocol.dataset import read_dataset
from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.loading import load_protocol, parse_limit, parse_protocol
from tests.helpers import ROOT, write_protocol

SMOKE = str(ROOT / "datasets" / "toy-smoke")


def _protocol(limit):
    return parse_protocol({"name": "x", "dataset": {"path": SMOKE, "limit": limit}})


@pytest.mark.parametrize(
    ("limit", "kept", "limited"), [(1, 1, True), (0.1, 1, True), (0.5, 1, True), (5, 2, False)]
)
def test_the_first_items_are_kept(limit, kept, limited):
    dataset = read_dataset(_protocol(limit))
    assert [i.spec.id for i in dataset.items] == ["blue-circle", "green-diamond"][:kept]
    assert dataset.record()["limit"] == {
        "requested": limit,
        "items": kept,
        "of": 2,
        "limited": limited,
    }


def test_without_a_limit_the_record_is_unchanged():
    record = read_dataset(parse_protocol({"name": "x", "dataset": SMOKE})).record()
    assert "limit" not in record


@pytest.mark.parametrize("limit", [0, -3, 1.0, 1.5, 0.0, True, "3"])
def test_a_bad_limit_is_one_line(limit):
    with pytest.raises(ProtocolError, match=r"dataset\.limit: ") as err:
        _protocol(limit)
    assert "\n" not in str(err.value)


def test_the_command_line_limit_writes_beside_the_full_run(tmp_path):
    path = write_protocol(tmp_path)
    assert parse_limit("3") == 3 and parse_limit("0.25") == 0.25
    protocol = load_protocol(path, 0.25)
    assert protocol.dataset.limit == 0.25
    assert protocol.output_dir.name == "run-limit-0.25"
    for text in ("0", "x", "2.5"):
        with pytest.raises(ProtocolError, match="--limit: "):
            parse_limit(text)
    result = CliRunner().invoke(app, ["plan", str(path), "--limit", "abc"])
    assert result.exit_code == 2 and result.output.startswith("error: --limit: ")
