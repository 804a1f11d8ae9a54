"""Protocol files: validation with helpful one-line errors, includes, grid expansion."""

import json

import pytest
import yaml

from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.loading import load_protocol, parse_protocol
from tests.helpers import ROOT, write_protocol


def test_toy_smoke_protocol_loads_and_expands():
    from sine_bench.runner.plan import build_plan

    protocol = load_protocol(ROOT / "protocols" / "toy-smoke.yaml")
    plan = build_plan(protocol, ROOT)
    # 24 prompts x 4 v x 2 K x 1 seed at each source's aspect; one fine-tune per item
    assert len(plan.cells) == 192 and len(plan.finetunes) == 12
    sizes = {(c.cell.item, c.cell.height, c.cell.width) for c in plan.cells}
    # 64x64 sources at 64x64; 3:2, 2:3, 2:1 and 1:2 ones at the native area, aspect kept
    assert {(h, w) for _, h, w in sizes} == {(64, 64), (52, 80), (80, 52), (44, 92), (92, 44)}
    assert sum((h, w) == (64, 64) for _, h, w in sizes) == 6  # half of the twelve
    settings = {(c.cell.edit.v, c.cell.edit.K) for c in plan.cells}
    assert (0.0, 0) in settings and (1.0, 400) in settings  # the frontier's references


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
        # a look-alike or invisible character is shown escaped, never as the field it imitates
        ({"\u0435dit": {"steps": 3}}, "unknown field '\\u0435dit' (did you mean 'edit'?)"),
        ({"edit\u200b": {"steps": 3}}, "unknown field 'edit\\u200b' (did you mean 'edit'?)"),
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
    from sine_bench.protocol.cells import expand_cells
    from sine_bench.protocol.dataset import resolve_dataset

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
    from sine_bench.protocol.root import json_schema

    schema = json_schema()
    assert {"name", "model", "dataset", "grid", "metrics"} <= set(schema["properties"])
    json.dumps(schema)


def test_resolution_labels_resolve_to_pixel_sizes():
    from sine_bench.protocol.cells import resolve_size

    assert resolve_size("native", 64, 4, (48, 80)) == (64, 64)
    assert resolve_size("64x96", 64, 4, (48, 80)) == (64, 96)
    h, w = resolve_size("source-aspect", 64, 4, (48, 80))  # keeps ~64*64 pixels, 3:5
    assert h % 4 == 0 and w % 4 == 0 and abs(w / h - 80 / 48) < 0.1
    assert abs(h * w - 64 * 64) < 0.1 * 64 * 64
    # 'source': the source's own size, each side to the nearest multiple of the VAE factor
    assert resolve_size("source", 64, 4, (48, 80)) == (48, 80)
    assert resolve_size("source", 64, 8, (130, 61)) == (128, 64)
    assert resolve_size("source", 64, 8, (3, 3)) == (8, 8)


def test_manifest_typos_and_duplicates_name_the_manifest(tmp_path):
    from sine_bench.protocol.dataset import resolve_dataset

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


def test_per_prompt_masks_override_the_item_mask(tmp_path):
    from sine_bench.protocol.dataset import resolve_dataset

    for name in ("x.png", "all.png", "q.png"):
        (tmp_path / name).write_bytes(b"")
    item = {"id": "a", "image": "x.png", "class_word": "c", "prompts": ["p", "q"]}
    item |= {"mask": "all.png", "masks": {"q": "q.png"}}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({"items": [item]}))
    (resolved,) = resolve_dataset(parse_protocol({"name": "x", "dataset": str(tmp_path)}))
    assert resolved.mask_for("p") == tmp_path / "all.png"
    assert resolved.mask_for("q") == tmp_path / "q.png"
    (tmp_path / "q.png").unlink()
    with pytest.raises(ProtocolError, match="mask file not found: .*q.png"):
        resolve_dataset(parse_protocol({"name": "x", "dataset": str(tmp_path)}))
    bad = item | {"masks": {"r": "q.png"}}
    with pytest.raises(ProtocolError, match="'masks' names prompts it does not list"):
        parse_protocol({"name": "x", "dataset": {"items": [bad]}})


@pytest.mark.parametrize("path", sorted((ROOT / "protocols").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_protocol_loads_and_plans(path):
    from sine_bench.runner.plan import build_plan

    protocol = load_protocol(path)
    if protocol.model.name == "tiny-random":
        assert build_plan(protocol, ROOT).cells


# ----------------------------------------------------------------- grid semantics


def _grid_protocol(grid: dict) -> dict:
    return {"name": "x", "dataset": str(ROOT / "datasets" / "toy-smoke"), "grid": grid}


@pytest.mark.parametrize(
    "grid,needle",
    [
        ({"v": []}, "grid.v: needs at least one value"),
        ({"K": []}, "grid.K: needs at least one value"),
        ({"resolution": []}, "grid.resolution: needs at least one value"),
        ({"seeds": []}, "grid.seeds: needs at least one value"),
        ({"edit": {"guidance": []}}, "grid.edit.guidance: needs at least one value"),
        ({"finetune": {"steps": []}}, "grid.finetune.steps: needs at least one value"),
    ],
)
def test_an_empty_grid_list_is_an_error_everywhere(grid, needle):
    """`grid.v: []` used to mean v = 0.7 silently, while `grid.edit.x: []` was an error."""
    with pytest.raises(ProtocolError) as err:
        parse_protocol(_grid_protocol(grid))
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "grid",
    [
        {"v": [0.5], "edit": {"v": [0.3]}},
        {"K": [100], "edit": {"K": [200]}},
        {"resolution": ["native"], "edit": {"resolution": ["64x64"]}},
        {"seeds": [0], "edit": {"seed": [1]}},
    ],
    ids=["v", "K", "resolution", "seed"],
)
def test_an_axis_given_twice_is_an_error(grid):
    """`grid.v` with `grid.edit.v` used to ignore one of them and list the axis twice."""
    with pytest.raises(ProtocolError, match="are the same axis; give it once"):
        parse_protocol(_grid_protocol(grid))


def test_an_axis_under_grid_edit_is_that_axis_listed_once():
    from sine_bench.protocol.cells import grid_axes

    protocol = parse_protocol(_grid_protocol({"edit": {"v": [0.3, 0.5], "guidance": [5.0]}}))
    labels = [label for label, *_ in grid_axes(protocol)]
    assert labels.count("v") == 1 and len(labels) == len(set(labels))
    assert protocol.grid.v == [0.3, 0.5] and "v" not in protocol.grid.edit


@pytest.mark.parametrize(
    "grid",
    [
        {"v": [0.5, 0.5]},
        {"K": [400, 400]},
        {"resolution": ["native", "native"]},
        {"seeds": [1, 1]},
        {"edit": {"guidance": [5, 5.0]}},
        {"edit": {"steps": ["3", 3]}},
        {"finetune": {"method": ["sine-full", "sine-full"]}},
        {"finetune": {"lr": [1e-4, 0.0001]}},
    ],
)
def test_duplicates_are_rejected_in_every_grid_list(grid):
    """Duplicates in grid.edit.* used to run twice and count twice in the summaries."""
    with pytest.raises(ProtocolError, match="twice"):
        parse_protocol(_grid_protocol(grid))


def test_swept_values_are_the_parsed_values():
    """'3' for an integer field sweeps 3, as the field itself would read it."""
    from sine_bench.protocol.cells import expand_cells
    from sine_bench.protocol.dataset import resolve_dataset

    protocol = parse_protocol(_grid_protocol({"edit": {"steps": ["3", 5]}}))
    assert protocol.grid.edit["steps"] == [3, 5]
    items = resolve_dataset(protocol)
    cells = expand_cells(protocol, items, 64, 4, {i.spec.id: (64, 64) for i in items})
    assert {type(c.edit.steps) for c in cells} == {int}


# ----------------------------------------------------------------- prompts and names


def _one_item(**fields) -> dict:
    item = {"id": "a", "image": "a.png", "class_word": "disc", "prompts": ["a red disc"]}
    return {"name": "x", "dataset": {"items": [item | fields]}}


@pytest.mark.parametrize(
    "fields,needle",
    [
        ({"prompts": [""]}, "prompt 0 is empty or only whitespace"),
        ({"prompts": ["a red disc", " \t "]}, "prompt 1 is empty or only whitespace"),
        ({"class_word": "  "}, "class_word is empty or only whitespace"),
        ({"id": "../up"}, "item id '../up' must be"),
        ({"id": ""}, "item id '' must be"),
        ({"image": ""}, "dataset.items.0.image"),
        ({"expected": {"a red disc": " "}}, "expected caption of 'a red disc' is empty"),
    ],
)
def test_empty_prompts_and_unsafe_ids_are_errors(fields, needle):
    """Empty and whitespace-only prompts used to run (cached under two keys)."""
    with pytest.raises(ProtocolError) as err:
        parse_protocol(_one_item(**fields))
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "data,needle",
    [
        ({"edit": {"seed": 2**64}}, "edit.seed: Input should be less than or equal to"),
        ({"finetune": {"seed": -1}}, "finetune.seed: Input should be greater than or equal"),
        ({"grid": {"seeds": [0, 2**63]}}, "grid.seeds.1"),
        ({"model": {"seed": 2**70}}, "model.seed"),
        ({"edit": {"guidance": float("inf")}}, "edit.guidance: Input should be a finite number"),
        ({"finetune": {"lr": float("nan")}}, "finetune.lr"),
        ({"grid": {"resolution": ["0x64"]}}, "(positive sides)"),
        ({"scoring": {"size": "64x0"}}, "scoring.size"),
        ({"output": "runs/{nam}"}, "may only use the placeholder {name}"),
        ({"finetune": {"prompt_template": "{class_word} {x}"}}, "only use the placeholder"),
        ({"output": "runs/a\x00b"}, "contains a NUL character"),
        ({"model": {"device": "gpu"}}, "model.device: must be 'auto', 'cpu'"),
    ],
)
def test_values_the_sampler_cannot_take_are_field_errors(data, needle):
    """Seeds past 64 bits, infinities and zero sides used to fail deep in a run."""
    with pytest.raises(ProtocolError) as err:
        parse_protocol({"name": "x", "dataset": "toy-smoke"} | data)
    assert needle in str(err.value) and "\n" not in str(err.value)
