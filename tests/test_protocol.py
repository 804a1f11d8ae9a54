"""Protocol files: validation with helpful one-line errors, includes, grid expansion."""

import json

import pytest
import yaml

from sine_bench.protocol import ProtocolError, load_protocol, parse_protocol
from tests.conftest import ROOT, write_protocol


def test_toy_smoke_protocol_loads_and_expands():
    from sine_bench.runner.plan import build_plan

    protocol = load_protocol(ROOT / "protocols" / "toy-smoke.yaml")
    plan = build_plan(protocol, ROOT)
    # 3 prompts x 2 v x 2 K x 2 resolutions x 1 seed; one fine-tune per item
    assert len(plan.cells) == 24 and len(plan.finetunes) == 2
    sizes = {(c.cell.edit.resolution, c.cell.height, c.cell.width) for c in plan.cells}
    assert sizes == {("native", 64, 64), ("64x96", 64, 96)}


@pytest.mark.parametrize(
    "data,needle",
    [
        ({"finetune": {"stpes": 3}}, "unknown field 'finetune.stpes' (did you mean 'steps'?)"),
        ({"metircs": ["psnr"]}, "unknown field 'metircs' (did you mean 'metrics'?)"),
        ({"inclde": "base.yaml"}, "did you mean 'include'?"),
        ({"grid": {"resolutions": ["native"]}}, "did you mean 'resolution'?"),
        ({"finetune": {"steps": "many"}}, "finetune.steps"),
        ({"grid": {"v": [0.5, 1.5]}}, "v must be in [0, 1], got 1.5"),
        ({"grid": {"K": [2000]}}, "K must be in [0, 1000], got 2000"),
        ({"grid": {"resolution": ["64by96"]}}, "resolution must be 'HxW'"),
        ({"grid": {"edit": {"guidanse": [5]}}}, "did you mean 'guidance'?"),
        ({"metrics": ["clip_tt[toy]"]}, "unknown metric 'clip_tt[toy]' (did you mean 'clip_t'?)"),
        ({"metrics": ["clip_t"]}, "needs a backbone"),
        ({"metrics": ["lpips[alexnet]"]}, "unknown lpips backbone 'alexnet'"),
        ({"finetune": {"method": "dreambooth"}}, "finetune.method"),
    ],
)
def test_bad_fields_give_one_line_naming_the_field(tmp_path, data, needle):
    path = write_protocol(tmp_path, **data)
    with pytest.raises(ProtocolError) as err:
        load_protocol(path)
    message = str(err.value)
    assert needle in message and "\n" not in message
    assert str(path) in message


def test_include_deep_merges_shared_defaults(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"finetune": {"steps": 7, "lr": 0.01}, "edit": {"steps": 9}}))
    child = tmp_path / "child.yaml"
    child.write_text(
        yaml.safe_dump(
            {"include": "base.yaml", "name": "c", "dataset": "toy-smoke", "finetune": {"lr": 0.5}}
        )
    )
    protocol = load_protocol(child)
    assert protocol.finetune.steps == 7 and protocol.finetune.lr == 0.5
    assert protocol.edit.steps == 9


def test_include_cycle_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("include: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\n")
    with pytest.raises(ProtocolError, match="include cycle"):
        load_protocol(tmp_path / "a.yaml")


def test_grid_overrides_of_any_field_become_axes():
    from sine_bench.protocol import expand_cells, resolve_dataset

    protocol = parse_protocol(
        {
            "name": "x",
            "dataset": str(ROOT / "datasets" / "toy-smoke"),
            "grid": {
                "v": [0.2, 0.9],
                "edit": {"guidance": [5, 7.5]},
                "finetune": {"method": ["sine-patch", "sine-full"]},
            },
        }
    )
    items = resolve_dataset(protocol)
    sizes = {i.spec.id: (64, 64) for i in items}
    cells = expand_cells(protocol, items, 64, 4, sizes)
    assert len(cells) == 2 * 2 * 2 * 3
    axes = cells[-1].axis_dict
    assert {"v", "K", "resolution", "seed", "guidance", "finetune.method"} <= set(axes)
    assert {c.finetune.method for c in cells} == {"sine-patch", "sine-full"}


def test_schema_is_json_schema():
    from sine_bench.protocol import json_schema

    schema = json_schema()
    assert {"name", "model", "dataset", "grid", "metrics"} <= set(schema["properties"])
    json.dumps(schema)


def test_resolution_labels_resolve_to_pixel_sizes():
    from sine_bench.protocol import resolve_size

    assert resolve_size("native", 64, 4, (48, 80)) == (64, 64)
    assert resolve_size("64x96", 64, 4, (48, 80)) == (64, 96)
    h, w = resolve_size("source-aspect", 64, 4, (48, 80))  # keeps ~64*64 pixels, 3:5
    assert h % 4 == 0 and w % 4 == 0 and abs(w / h - 80 / 48) < 0.1
    assert abs(h * w - 64 * 64) < 0.1 * 64 * 64


def test_manifest_typos_and_duplicates_name_the_manifest(tmp_path):
    from sine_bench.protocol import resolve_dataset

    (tmp_path / "manifest.yaml").write_text(
        "items:\n  - {id: a, image: x.png, class_word: c, prompts: [p], clss: 1}\n"
    )
    protocol = parse_protocol({"name": "x", "dataset": str(tmp_path)})
    with pytest.raises(ProtocolError) as err:
        resolve_dataset(protocol)
    assert "manifest.yaml: unknown field 'items.0.clss' (did you mean 'class_word'?)" in str(
        err.value
    )
    with pytest.raises(ProtocolError, match="grid.K: lists the value 400 twice"):
        parse_protocol({"name": "x", "dataset": "d", "grid": {"K": [400, 400]}})
    with pytest.raises(ProtocolError, match="lists a prompt twice"):
        parse_protocol(
            {
                "name": "x",
                "dataset": {
                    "items": [
                        {"id": "a", "image": "a.png", "class_word": "c", "prompts": ["p", "p"]}
                    ]
                },
            }
        )


@pytest.mark.parametrize("path", sorted((ROOT / "protocols").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_protocol_loads_and_plans(path):
    from sine_bench.runner.plan import build_plan

    protocol = load_protocol(path)
    if protocol.model.name == "tiny-random":
        assert build_plan(protocol, ROOT).cells
