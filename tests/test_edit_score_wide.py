"""datasets/edit-score-wide (edit_score's wider held-out check): the committed files are
what generate.py makes, every scene is of its named kind and range, the oracle reads every
source right, and each prompt is one attribute edit the oracle can check."""

import importlib.util

import numpy as np
import yaml
from PIL import Image

from sine_bench.metrics.oracle import edited_attributes
from sine_bench.toy.oracle import parse_caption, read_image
from tests.helpers import ROOT

HERE = ROOT / "datasets" / "edit-score-wide"


def _generator():
    spec = importlib.util.spec_from_file_location("edit_score_wide", HERE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manifest_is_what_generate_builds():
    committed = yaml.safe_load((HERE / "manifest.yaml").read_text())
    assert committed == _generator().build(write_files=False)


def test_every_scene_is_its_kind_and_the_oracle_reads_it():
    generator = _generator()
    items = yaml.safe_load((HERE / "manifest.yaml").read_text())["items"]
    assert len(items) == len(generator.SEED_RANGES) * len(generator.KINDS) == 16
    kinds, ranges = [], set()
    for item in items:
        seed, kind = item["id"][1:].split("-", 1)
        ranges.add(int(seed) // 10_000_000)
        kinds.append(kind)
        source = parse_caption(item["source"])
        shapes = [shape for _, _, shape in source.objects]
        assert (source.texture == "striped") == (kind == "striped")
        assert (len(shapes) == 3) == (kind == "three")
        if kind == "same-shape":
            assert len(shapes) == 2 and shapes[0] == shapes[1]
        reading = read_image(np.asarray(Image.open(HERE / item["image"]).convert("RGB")))
        assert reading.count == len(source.objects) and reading.texture == source.texture
        for prompt in item["prompts"]:
            assert len(edited_attributes(source, parse_caption(prompt))) == 1, prompt
            assert (HERE / item["masks"][prompt]).is_file()
    assert ranges == {5, 6, 7, 8}
    assert sorted(kinds) == sorted(generator.KINDS * 4)
