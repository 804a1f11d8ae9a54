"""Claim (e)'s dataset and protocol: edits graded by size that the oracle reads as
designed, on the paper-toy images (so the paper-toy fine-tunes are reused)."""

import importlib.util
from collections import Counter

import numpy as np
import yaml
from PIL import Image

from sine_bench.metrics.oracle import edited_attributes
from sine_bench.protocol.dataset import resolve_dataset
from sine_bench.protocol.loading import load_protocol
from sine_bench.report.edit_size import edit_size
from sine_bench.toy.oracle import parse_caption
from tests.helpers import ROOT

FOLDER = ROOT / "datasets" / "paper-edit-size"


def _generator():
    spec = importlib.util.spec_from_file_location("edit_size_generate", FOLDER / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_caption_changes_the_attributes_it_is_meant_to():
    design = _generator().DESIGN
    protocol = load_protocol(ROOT / "protocols" / "paper-edit-size.yaml")
    items = resolve_dataset(protocol, ROOT)
    assert len(items) == 12
    sizes = Counter()
    for item in items:
        source = parse_caption(item.spec.source)
        assert len(item.spec.prompts) == len(design) == 8
        for prompt, wanted in zip(item.spec.prompts, design, strict=True):
            target = parse_caption(prompt)
            assert target.background is not None and len(target.objects) == len(source.objects)
            assert edited_attributes(source, target) == wanted, (item.spec.id, prompt)
            size = edit_size(item.spec.source, prompt, item.spec.class_word)
            assert size.attributes == len(wanted)
            assert size.class_change == ("shape" in wanted), (item.spec.id, prompt)
            sizes[size.label] += 1
            mask = np.asarray(Image.open(item.mask_for(prompt)))
            assert 0 < (mask > 0).mean() <= 1  # the edit's own mask, not empty
    assert sizes == {
        label: 12 * n for label, n in {"1": 2, "1 (class)": 1, "2": 1, "2 (class)": 1}.items()
    } | {"3": 12, "3 (class)": 12, "4 (class)": 12}


def test_same_images_and_class_words_as_paper_toy():
    edit = yaml.safe_load((FOLDER / "manifest.yaml").read_text())["items"]
    paper = yaml.safe_load((ROOT / "datasets/paper-toy/manifest.yaml").read_text())["items"]
    for a, b in zip(edit, paper, strict=True):
        assert (FOLDER / a["image"]).resolve() == (ROOT / "datasets/paper-toy" / b["image"])
        assert (a["id"], a["class_word"], a["source"]) == (b["id"], b["class_word"], b["source"])
        assert a["prompts"][1:3] == b["prompts"][1:3]  # colour and shape edits: paper-toy's


def test_manifest_is_what_generate_py_writes():
    assert _generator().build() == yaml.safe_load((FOLDER / "manifest.yaml").read_text())


def test_protocol_plans_the_v_sweep_on_cached_fine_tune_settings():
    from sine_bench.runner.run import plan_summary

    protocol = load_protocol(ROOT / "protocols" / "paper-edit-size.yaml")
    base = load_protocol(ROOT / "protocols" / "paper-v-sweep.yaml")
    assert protocol.finetune == base.finetune and protocol.edit == base.edit
    assert protocol.grid.v == [0.0, 0.2, 0.4, 0.7, 1.0] and protocol.grid.K == [400]
    for metric in ("oracle_faithful", "oracle_structure", "oracle_offset", "oracle_edit_success"):
        assert metric in protocol.metrics
    assert plan_summary(protocol)["cells"] == 12 * 8 * 2 * 5  # scenes x prompts x seeds x v
