"""Source images at plan time: what their masks' and ground-truth targets' sizes do."""

from __future__ import annotations

from sine_bench.metrics.registry import check_metric_name
from sine_bench.protocol.dataset import read_dataset
from sine_bench.protocol.loading import parse_protocol
from sine_bench.runner.sources import check_source_images
from tests.datasets.hf_fixtures import (
    magicbrush_rows,
    magicbrush_table,
    noise,
    png,
    write_hub_parquet,
)


def test_a_target_of_another_size_than_its_source_is_a_note(tmp_path):
    """MagicBrush's targets are scored against the edit at the scoring size: one of
    another size than its source is resized, which plan says (a stretch above all)."""
    rows = magicbrush_rows()
    rows["target_img"][2] = png(noise(9)[:, :24])  # image 30: 48x24, its source 48x48
    write_hub_parquet(tmp_path / "mb", magicbrush_table(rows), "dev")
    spec = {"path": str(tmp_path / "mb"), "format": "magicbrush"}
    protocol = parse_protocol({"name": "x", "dataset": spec, "store": str(tmp_path / "s")})
    items = {item.spec.id: item for item in read_dataset(protocol).items}
    sizes, _, remarks = check_source_images(items, [check_metric_name("l1_target")], "source")
    assert sizes["30-1"] == (48, 48) and set(remarks) == {"30-1"}
    (note,) = remarks["30-1"]
    assert note.startswith("target ") and note.endswith(
        "is 48x24, the source 48x48: stretched (another aspect) to it"
    )
