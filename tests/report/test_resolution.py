"""The frontier per source resolution: each size its own best setting and references,
the extra-object rate, the Markdown and the lines ``run`` ends with."""

import json

import pandas as pd

from sine_bench.report import resolution
from sine_bench.report.tables import write_tables

AXES = ["v", "K", "resolution", "seed"]


def _cells() -> pd.DataFrame:
    """Square sources: v = 0.3 is faithful. Wide sources (64x128): v = 0.3 duplicates
    (two objects for one asked) and only v = 0.1 keeps the layout. v = 0 / K = 0 copies,
    v = 1 regenerates, at every size."""
    rows = []
    for size, n_items in (("64x64", 4), ("64x128", 5)):
        wide = size != "64x64"
        outcome = {  # (v, K) -> (success, structure, objects)
            (0.0, 0): (0.0, 1.0, 1),
            (0.1, 400): (1.0, 1.0, 1) if wide else (0.0, 1.0, 1),
            (0.3, 400): (1.0, 0.0, 2) if wide else (1.0, 1.0, 1),
            (1.0, 400): (1.0, 0.0, 2 if wide else 1),
        }
        for item in range(n_items):
            for (v, k), (success, structure, objects) in outcome.items():
                rows.append(
                    {
                        "item": f"{size}-{item}",
                        "prompt_index": 0,
                        "prompt": "a large red circle on a blue background",
                        "v": v,
                        "K": k,
                        "resolution": "source",
                        "seed": 0,
                        "height": int(size.split("x")[0]),
                        "width": int(size.split("x")[1]),
                        "source_size": size,
                        "oracle_edit_success": success,
                        "oracle_structure": structure,
                        "oracle_faithful": success * structure,
                        "oracle_count": float(objects),
                    }
                )
    return pd.DataFrame(rows)


def test_aspect_label_names_width_to_height():
    assert resolution.aspect_label("64x96") == "64x96 (W:H 3:2)"
    assert resolution.aspect_label("128x64") == "128x64 (W:H 1:2)"
    assert resolution.aspect_label("128x128") == "128x128 (W:H 1:1)"


def test_each_size_gets_its_own_best_setting_and_extra_objects():
    tables = resolution.frontiers(_cells(), AXES)
    assert list(tables) == ["64x64", "64x128"]  # ordered by aspect (W / H)
    square, wide = tables["64x64"], tables["64x128"]
    assert square[square["best"]].iloc[0]["v"] == 0.3
    assert wide[wide["best"]].iloc[0]["v"] == 0.1
    assert square["images"].max() == 4 and wide["images"].max() == 5
    dup = wide.set_index("v")["extra_objects"]
    assert dup[0.3] == 1.0 and dup[0.1] == 0.0 and dup[1.0] == 1.0
    assert set(wide["role"]) == {"", "fine-tuned only", "pretrained only"}


def test_write_tables_writes_summary_resolution_and_run_prints_it(tmp_path):
    cells = _cells()
    write_tables(cells, AXES, tmp_path)
    text = (tmp_path / "summary" / "resolution.md").read_text()
    assert "## 64x128 (W:H 2:1): 5 source images" in text
    assert "## 64x64 (W:H 1:1): 4 source images" in text
    assert "extra_objects" in text
    lines = resolution.run_summary_lines(tmp_path, AXES)
    joined = "\n".join(lines)
    assert lines[0].startswith("frontier (9 source images)")
    assert "best setting" in joined and "fine-tuned only" in joined
    assert "pretrained only" in joined
    per_size = [line for line in lines if "W:H" in line]
    assert len(per_size) == 2 and "v=0.3" in per_size[0] and "v=0.1" in per_size[1]
    # the summary.json that compare reads has no new metric (source_size is a key column)
    assert "source_size" not in json.loads((tmp_path / "summary.json").read_text())["metrics"]


def test_one_source_size_writes_no_resolution_frontier(tmp_path):
    cells = _cells()
    write_tables(cells[cells["source_size"] == "64x64"], AXES, tmp_path)
    assert not (tmp_path / "summary" / "resolution.md").exists()
    lines = resolution.run_summary_lines(tmp_path, AXES)
    assert lines and not any("W:H" in line for line in lines)
