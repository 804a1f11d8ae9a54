"""Edit units (K-prefix sharing, batching) and sine-lora inside the runner."""

import json

import pandas as pd

from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.plan import build_plan, unet_evaluations
from sine_bench.runner.run import run_protocol
from tests.helpers import write_protocol


def _write(tmp_path, **overrides):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_protocol(tmp_path, **overrides)


def _run(tmp_path, **overrides):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_protocol(tmp_path, metrics=["psnr"], **overrides)
    out = run_protocol(path, progress=False, threads=1, log=lambda *_: None)
    return pd.read_csv(out / "cells.csv"), path


def test_units_hold_every_edit_once_with_whole_k_sweeps(tmp_path):
    path = write_protocol(tmp_path, grid={"K": [0, 300, 700, 1000], "seeds": [0, 1]})
    plan = build_plan(load_protocol(path))
    keys = [j.key for unit in plan.units for j in unit.jobs]
    assert sorted(keys) == sorted(plan.edits)
    for unit in plan.units:
        trunks = {(j.prompt, j.settings["v"], j.settings["seed"]) for j in unit.jobs}
        assert len(trunks) == 1  # batch_size 1: one trunk, all its K values
        counts = unet_evaluations(unit.jobs)
        assert counts["shared"] <= counts["naive"]


def test_batch_size_groups_trunks_and_enters_the_key(tmp_path):
    one = build_plan(load_protocol(_write(tmp_path / "a", grid={"seeds": [0, 1]})))
    batched = _write(tmp_path / "b", grid={"seeds": [0, 1]}, edit={"batch_size": 4})
    four = build_plan(load_protocol(batched))
    assert len(four.units) < len(one.units)
    assert set(one.edits).isdisjoint(four.edits)


def test_batched_run_matches_one_by_one(tmp_path):
    grid = {"seeds": [0, 1]}
    alone, _ = _run(tmp_path / "a", grid=grid)
    batched, _ = _run(tmp_path / "b", grid=grid, edit={"batch_size": 3})
    pd.testing.assert_series_equal(alone["psnr"], batched["psnr"], atol=0.05, rtol=0)


def test_sine_lora_protocol_stores_an_adapter(tmp_path):
    cells, path = _run(tmp_path, finetune={"method": "sine-lora", "lr": 1e-3})
    assert cells["psnr"].notna().all()
    plan = build_plan(load_protocol(path))
    for job in plan.finetunes.values():
        assert job.settings["lora"]["rank"] == 8
        assert job.settings["train_text_encoder"] is False
        folder = tmp_path / "store" / "finetunes" / job.key[:2] / job.key
        assert (folder / "unet_lora").is_dir() and not (folder / "unet").exists()


def test_sine_lora_patch_protocol_stores_an_adapter_with_its_encoding(tmp_path):
    from typer.testing import CliRunner

    from sine_bench.cli import app
    from sine_bench.sine.unet import PE_FILENAME

    cells, path = _run(tmp_path, finetune={"method": "sine-lora-patch", "lr": 1e-3})
    assert cells["psnr"].notna().all()
    plan = build_plan(load_protocol(path))
    for job in plan.finetunes.values():
        assert job.settings["lora"]["rank"] == 8 and job.settings["patches"]["grid"] == 32
        folder = tmp_path / "store" / "finetunes" / job.key[:2] / job.key
        assert (folder / "unet_lora" / PE_FILENAME).is_file()
    shown = CliRunner().invoke(app, ["plan", str(path)])
    assert shown.exit_code == 0 and "sine-lora-patch" in shown.output


def test_images_per_call_merges_finetunes_with_exact_counts(tmp_path):
    one = build_plan(load_protocol(_write(tmp_path / "a")))
    two = build_plan(load_protocol(_write(tmp_path / "b", edit={"images_per_call": 2})))
    assert set(one.edits).isdisjoint(two.edits)  # the key says so
    assert all("images_per_call" not in j.settings for j in one.edits.values())
    assert sorted(j.key for u in two.units for j in u.jobs) == sorted(two.edits)
    merged = [u for u in two.units if len({j.finetune for j in u.jobs}) == 2]
    assert merged and len(two.units) < len(one.units)
    for name in ("naive", "shared"):  # the same rows, in fewer calls
        assert sum(unet_evaluations(u.jobs)[name] for u in one.units) == sum(
            unet_evaluations(u.jobs)[name] for u in two.units
        )


def test_lora_images_per_call_run_matches_per_image(tmp_path):
    lora = {"method": "sine-lora", "lr": 1e-3}
    alone, _ = _run(tmp_path / "a", finetune=lora)
    together, path = _run(tmp_path / "b", finetune=lora, edit={"images_per_call": 2})
    pd.testing.assert_series_equal(alone["psnr"], together["psnr"], atol=0.05, rtol=0)
    plan = build_plan(load_protocol(path))
    unit = next(u for u in plan.units if len({j.finetune for j in u.jobs}) == 2)
    job = unit.jobs[0]
    meta = tmp_path / "b" / "store" / "edits" / job.key[:2] / job.key / "edit.json"
    assert json.loads(meta.read_text())["unit"]["key"] == unit.key  # computed as one unit
