"""The paper-reproduction protocols: the toy dataset's edits are one-attribute edits
the oracle can check, and the real-model protocols plan offline with user photos."""

import shutil

import pytest
import yaml
from typer.testing import CliRunner

from sine_bench.cli import app
from sine_bench.metrics.oracle import edited_attributes
from sine_bench.protocol.dataset import resolve_dataset
from sine_bench.protocol.loading import load_protocol
from sine_bench.toy.oracle import parse_caption, read_image
from tests.helpers import ROOT

SD14 = sorted((ROOT / "protocols").glob("sd14-*.yaml"))
PAPER_TOY = [
    "paper-k-sweep",
    "paper-v-sweep",
    "paper-nonsquare",
    "paper-overfit",
    "paper-nonsquare-followup",
]


def test_paper_toy_dataset_is_one_attribute_edits_the_oracle_reads():
    import numpy as np
    from PIL import Image

    protocol = load_protocol(ROOT / "protocols" / "paper-k-sweep.yaml")
    items = resolve_dataset(protocol, ROOT)
    assert len(items) >= 12
    kinds = []
    for item in items:
        source = parse_caption(item.spec.source)
        assert len(item.spec.prompts) >= 3
        reading = read_image(np.asarray(Image.open(item.image_path).convert("RGB")))
        assert reading.count == len(source.objects)  # the oracle reads the source right
        for prompt in item.spec.prompts:
            changed = edited_attributes(source, parse_caption(prompt))
            assert len(changed) == 1, (item.spec.id, prompt, changed)
            kinds += changed
    assert set(kinds) == {"background", "color", "shape"}


@pytest.mark.parametrize("name", PAPER_TOY)
def test_paper_toy_protocols_plan_the_paper_grids(name):
    from sine_bench.runner.run import plan_summary

    summary = plan_summary(load_protocol(ROOT / "protocols" / f"{name}.yaml"))
    cells = {
        "paper-k-sweep": 11,
        "paper-v-sweep": 11,
        "paper-nonsquare": 6,
        "paper-overfit": 6,
        "paper-nonsquare-followup": 16,  # v x size x method x steps = 2 x 2 x 2 x 2
    }
    assert summary["cells"] == 12 * 3 * 2 * cells[name]  # scenes x prompts x seeds x grid


@pytest.mark.parametrize("path", SD14, ids=lambda p: p.stem)
def test_sd14_protocols_plan_offline_with_user_photos(path, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    photos = tmp_path / "photos"
    shutil.copytree(ROOT / "datasets" / "sd14-photos", photos)
    manifest = yaml.safe_load((photos / "manifest.yaml").read_text())
    for item in manifest["items"]:
        Image.new("RGB", (640, 480), "gray").save(photos / item["image"])
    protocol = tmp_path / path.name
    overrides = {"include": str(path), "dataset": str(photos), "store": str(tmp_path / "s")}
    protocol.write_text(yaml.safe_dump(overrides))
    result = CliRunner().invoke(app, ["plan", str(protocol), "--no-cells"])
    assert "fine-tunes:  " in result.output and "UNet evals:" in result.output
    # the plan is shown in full; then the weights a run would need, and how to get them
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert "CompVis/stable-diffusion-v1-4" in last and "sine-bench fetch-weights" in last
    loaded = load_protocol(protocol)
    assert loaded.model.name == "CompVis/stable-diffusion-v1-4"
    assert loaded.edit.steps == 100 and loaded.edit.guidance == 7.5 and loaded.finetune.lr == 1e-6
    expected_steps = 800 if loaded.finetune.method == "sine-full" else 10000
    assert loaded.finetune.steps == expected_steps


def test_sd14_plan_without_photos_names_the_missing_file(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["plan", "protocols/sd14-k-sweep.yaml"])
    assert result.exit_code == 2
    assert "image file not found" in result.output and "sd14-photos" in result.output


@pytest.mark.parametrize("prefix", ["toy", "sd14"])
def test_score_py_sweeps_mirror_official_sines_evaluation(prefix):
    """scripts/score.py of zhang-zx/SINE: K 0..1000 (v 0.7) or v 0..1 (K 400) in tenths,
    20 samples per setting, LPIPS (AlexNet) to the source and CLIP to the target text."""
    tenths = [i / 10 for i in range(11)]
    clip = "clip_t[toy]" if prefix == "toy" else "clip_t[ViT-B-32/openai]"
    for mode, v, K in (("k", [0.7], [100 * i for i in range(11)]), ("v", tenths, [400])):
        protocol = load_protocol(ROOT / "protocols" / f"{prefix}-score-{mode}-sweep.yaml")
        assert protocol.grid.v == v and protocol.grid.K == K
        assert protocol.grid.seeds == list(range(20))
        assert protocol.metrics == ["lpips[alex]", clip]
