"""Plan-time checks of real-world inputs: what a run would trip over fails here, in one
line, before any weights load."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sine_bench import images
from sine_bench.cli import app
from sine_bench.images import ImageInputError
from sine_bench.protocol.fields import ProtocolError
from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.plan import build_plan
from tests.helpers import write_protocol

runner = CliRunner()


def _item(path, **extra) -> dict:
    item = {"id": "a", "image": str(path), "class_word": "disc", "prompts": ["a red disc"]}
    return {"items": [item | extra]}


def _photo(path, size=(80, 40), orientation=None, mode="RGB"):
    """A landscape (w, h) = size photo, optionally tagged with an EXIF orientation."""
    img = Image.fromarray(np.full((size[1], size[0], 3), 90, dtype=np.uint8)).convert(mode)
    exif = img.getexif()
    if orientation:
        exif[images.ORIENTATION_TAG] = orientation
    img.save(path, exif=exif)
    return path


def test_source_aspect_sees_the_rotated_phone_photo(tmp_path):
    """Stored 80 x 40 (landscape) but tagged 'rotate 90': the photo is portrait."""
    path = _photo(tmp_path / "phone.jpg", orientation=6)
    protocol = write_protocol(
        tmp_path, dataset=_item(path), grid={"resolution": ["source-aspect"], "v": [0.5]}
    )
    plan = build_plan(load_protocol(protocol))
    cell = plan.cells[0].cell
    assert cell.height > cell.width, (cell.height, cell.width)
    assert plan.image_notes == {"a": ["EXIF orientation 6 applied"]}


def test_alpha_is_a_recorded_note_in_plan_and_manifest(tmp_path):
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:8, :8, 3] = 0
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    protocol = write_protocol(tmp_path, dataset=_item(path), grid={"v": [0.5], "K": [400]})
    result = runner.invoke(app, ["plan", str(protocol)])
    assert result.exit_code == 0, result.output
    assert "note: item 'a' (cutout.png): transparent pixels composited on white" in result.output


@pytest.mark.parametrize(
    "metrics, side, needle",
    [
        (["psnr", "ssim"], 10, "metric 'ssim' needs at least 11 px"),
        (["psnr", "lpips[alex]"], 24, "metric 'lpips[alex]' needs at least 32 px"),
    ],
)
def test_image_too_small_for_the_metrics_is_one_line_at_plan(tmp_path, metrics, side, needle):
    path = _photo(tmp_path / "tiny.png", size=(side, side))
    protocol = write_protocol(tmp_path, dataset=_item(path), metrics=metrics)
    with pytest.raises(ImageInputError, match="image too small"):
        build_plan(load_protocol(protocol))
    result = runner.invoke(app, ["run", str(protocol), "--no-progress"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and needle in lines[0], result.output
    assert not (tmp_path / "store").exists()
    # scoring at a fixed size that is large enough makes the same image fine
    ok = write_protocol(tmp_path, dataset=_item(path), metrics=metrics, scoring={"size": "64x64"})
    assert build_plan(load_protocol(ok)).cells


def test_image_too_large_to_decode_is_one_line_at_plan(tmp_path, monkeypatch):
    path = _photo(tmp_path / "big.png", size=(64, 64))
    monkeypatch.setattr(images, "MAX_PIXELS", 4000)
    protocol = write_protocol(tmp_path, dataset=_item(path))
    result = runner.invoke(app, ["plan", str(protocol)])
    assert result.exit_code == 2 and "too large to decode" in result.output
    assert len(result.output.strip().splitlines()) == 1


def _big_grid(tmp_path, seeds: int, **axes):
    """toy-smoke (3 item prompts) x v 100 x K 100 x ``seeds`` seeds (``axes`` replace)."""
    grid = {"v": [i / 100 for i in range(100)], "K": list(range(0, 1000, 10))}
    grid |= {"seeds": list(range(seeds)), "resolution": ["64x64"]} | axes
    return write_protocol(tmp_path, grid=grid)


def test_a_million_cell_grid_is_refused_at_once_with_its_size(tmp_path):
    """Measured arithmetically before any cell is built: no minutes, no gigabytes."""
    import time

    from sine_bench.protocol.cells import check_grid_size
    from sine_bench.protocol.dataset import resolve_dataset

    path = _big_grid(tmp_path, seeds=34)  # 3 x 100 x 100 x 34 = 1,020,000 cells
    loaded = load_protocol(path)
    start = time.perf_counter()
    with pytest.raises(ProtocolError) as err:
        check_grid_size(loaded, resolve_dataset(loaded))
    assert time.perf_counter() - start < 0.5
    assert "grid: 1,020,000 cells (3 item prompts x v 100 x K 100 x seed 34)" in str(err.value)
    assert "--large-grid" in str(err.value)
    assert check_grid_size(loaded, resolve_dataset(loaded), None) == 1_020_000
    result = runner.invoke(app, ["plan", str(path)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "1,020,000 cells" in lines[0]
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2 and "--large-grid" in result.output
    assert not (tmp_path / "store").exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"grid": {"finetune": {"steps": [2, 3]}, "edit": {"guidance": [1.0, 5.0]}}},
        {"grid": {"v": None, "K": None, "seeds": [0, 1]}, "methods": {"sine": {}, "sdedit": {}}},
        {
            "grid": {"v": None, "K": None},
            "methods": {"sine": {"grid": {"v": [0.2, 0.5]}}, "ddim-inversion": {}},
        },
    ],
)
def test_the_measured_size_is_the_planned_size(tmp_path, overrides):
    from sine_bench.protocol.cells import check_grid_size

    loaded = load_protocol(write_protocol(tmp_path, **overrides))
    plan = build_plan(loaded)
    assert check_grid_size(loaded, plan.items.values()) == len(plan.cells)


def test_large_grid_plans_past_the_bound_and_the_listing_is_truncated(tmp_path, monkeypatch):
    import sine_bench.cli.runs as plan_command

    path = _big_grid(tmp_path, seeds=1, v=[0.1, 0.2, 0.3], K=[0, 100, 200, 300])
    monkeypatch.setattr(plan_command, "MAX_CELLS", 20)  # 3 prompts x 3 x 4 = 36 cells
    refused = runner.invoke(app, ["plan", str(path)])
    assert refused.exit_code == 2 and "36 cells" in refused.output
    monkeypatch.setattr(plan_command, "PLAN_LISTED", 10)
    shown = runner.invoke(app, ["plan", str(path), "--large-grid"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[1] == "cells:       36"  # size and cost first
    assert sum("resolution=64x64" in line for line in lines) == 10
    assert "... and 26 more cells (--all-cells lists every one)" in lines
    every = runner.invoke(app, ["plan", str(path), "--large-grid", "--all-cells"])
    assert sum("resolution=64x64" in line for line in every.output.splitlines()) == 36


def test_quiet_inputs_are_notes_in_plan_and_manifest(tmp_path):
    """An animated source, a grey mask of another shape and a mask covering everything:
    each a note `plan` prints and the manifest records; the covered prompt's masked
    metric is empty."""
    import json

    from sine_bench.runner.run import run_protocol

    frames = [Image.new("RGB", (64, 64), (200, 40 * i, 90)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    grey = np.zeros((32, 48), dtype=np.uint8)
    grey[4:12, 4:20] = 180
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    Image.fromarray(np.full((64, 64), 255, dtype=np.uint8), "L").save(tmp_path / "full.png")
    item = {
        "id": "a",
        "image": str(tmp_path / "anim.gif"),
        "class_word": "disc",
        "prompts": ["a red disc", "a blue disc"],
        "masks": {
            "a red disc": str(tmp_path / "grey.png"),
            "a blue disc": str(tmp_path / "full.png"),
        },
    }
    path = write_protocol(
        tmp_path,
        dataset={"items": [item]},
        grid={"v": [0.5], "K": [400], "resolution": ["64x64"]},
        finetune={"steps": 1},
        edit={"steps": 2},
        metrics=["psnr", "psnr_masked"],
    )
    expected = [
        "image anim.gif has 3 frames (animated or multi-page): the first is used",
        "mask full.png covers the whole image: masked metrics have no kept pixel and are "
        "empty (NaN)",
        "mask grey.png is 32x48, the source 64x64: stretched (another aspect) to it",
        "mask grey.png: 8.3% of its pixels are grey, thresholded at 128 (128 and up is the "
        "edited region)",
    ]
    shown = runner.invoke(app, ["plan", str(path)])
    assert shown.exit_code == 0, shown.output
    assert f"note: item 'a': {'; '.join(expected)}" in shown.output.splitlines()
    out = run_protocol(path, progress=False, log=lambda *_: None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input_notes"] == {"a": expected}
    import pandas as pd

    cells = pd.read_csv(out / "cells.csv")
    by_prompt = cells.set_index("prompt")["psnr_masked"]
    assert np.isnan(by_prompt["a blue disc"]) and np.isfinite(by_prompt["a red disc"])


@pytest.mark.parametrize("field", ["image", "mask"])
def test_a_symlink_loop_in_a_dataset_path_is_one_line(tmp_path, field):
    """It ended in `RuntimeError: Symlink loop from ...`."""
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    good = _photo(tmp_path / "good.png", size=(64, 64))
    item = {field: str(tmp_path / "a.png")}
    dataset = _item(good)
    dataset["items"][0] |= item
    protocol = write_protocol(tmp_path, dataset=dataset)
    result = runner.invoke(app, ["plan", str(protocol)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: protocol dataset.items: item 'a': ")
    assert f"{field}: " in lines[0] and "a.png cannot be followed" in lines[0]
    assert "Symlink loop" in lines[0]
