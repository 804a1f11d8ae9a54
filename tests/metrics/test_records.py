"""Every metric family and backbone is one complete record, and one parser reads every
metric name and column label."""

import inspect
import math

import pytest

from sine_bench.metrics.backbones import BACKBONES
from sine_bench.metrics.families import FAMILIES, families_with, family_record, records, sign_of
from sine_bench.metrics.names import family_of, split_label, strict_parts
from sine_bench.metrics.registry import check_metric_name, column_label, min_side

ROLES = {"alignment", "fidelity", "joint", "overfitting", "oracle", "target"}
INPUTS = {"reference", "memorized", "anchors", "target"}


@pytest.mark.parametrize("family", FAMILIES.names())
def test_every_family_has_a_complete_record(family):
    record = FAMILIES.get(family)
    assert record.name == family
    assert record.role in ROLES
    assert record.direction in ("higher", "lower", None)
    assert record.lower < record.upper and not math.isnan(record.lower + record.upper)
    assert record.min_side >= 1
    assert set(record.needs) <= INPUTS
    assert set(record.backbones) <= set(BACKBONES) and len(record.backbones) <= 2
    assert record.pools_over in (None, "seed", "prompt")
    scorer = record.load_scorer()  # names a function that exists
    assert callable(scorer)
    assert list(inspect.signature(scorer).parameters)[0] == "name"
    if record.pools_over:  # a group metric reads the edits of its group, nothing else
        assert record.scope == "group" and not record.needs


def test_records_hold_what_the_six_tables_held():
    """Spot checks of facts other code relies on (score keys, labels, validation)."""
    assert FAMILIES.get("prompt_insensitivity").pools_over == "prompt"
    assert FAMILIES.get("seed_collapse").pools_over == "seed"
    assert [r.name for r in records() if r.scope == "group"] == [
        "prompt_insensitivity",
        "seed_collapse",
    ]
    assert FAMILIES.get("copy_rate").backbones == ("lpips", "clip")
    assert FAMILIES.get("edit_score").backbones == ("clip", "lpips")
    assert FAMILIES.get("edit_score").needs == ("anchors",)
    assert families_with("joint") == ("edit_score",)
    sides = {n: min_side(check_metric_name(n)) for n in ("psnr", "ssim", "lpips[alex]")}
    assert sides == {"psnr": 1, "ssim": 11, "lpips[alex]": 32}
    assert min_side(check_metric_name("copy_rate[alex+toy]")) == 32
    assert min_side(check_metric_name("memorization[vgg]")) == 32
    assert min_side(check_metric_name("edit_score[toy+alex]")) == 1


def test_directions_read_from_column_labels():
    assert sign_of("st_lpips[alex]") == -1
    assert sign_of("memorization[st_lpips-alex]") == 1
    assert sign_of("edit_score[toy+st_lpips-alex]") == 1
    assert sign_of("oracle_count") == 0
    assert sign_of("finetune.method") == 1 and sign_of("finetune.method", unknown=0) == 0
    assert family_record("v") is None


def test_every_backbone_record_is_complete():
    for kind, registry in BACKBONES.items():
        for name in registry.names():
            record = registry.get(name)
            assert (record.kind, record.name) == (kind, name)
            assert callable(record.factory)
            for weight in record.weights:
                assert weight.kind in ("open_clip", "timm", "torchvision") and weight.source
    identity = BACKBONES["clip"].get("ViT-B-32/openai").key_identity()
    assert identity.startswith("open_clip:ViT-B-32/openai:quickgelu:")


@pytest.mark.parametrize(
    "label,parts",
    [
        ("psnr", ("psnr", None)),
        ("lpips[alex]", ("lpips", "alex")),
        ("clip_t[ViT-B-32/openai]", ("clip_t", "ViT-B-32/openai")),
        ("edit_score[toy+st_lpips-alex]", ("edit_score", "toy+st_lpips-alex")),
        ("finetune.method", ("finetune.method", None)),
        ("cost.unet_evaluations", ("cost.unet_evaluations", None)),
        ("a[b", ("a", "b")),  # an unclosed bracket keeps what follows
        ("a[b[c]]", ("a", "b[c]")),  # the first '[' splits, the last ']' closes
        ("[x]", ("", "x")),
        ("", ("", None)),
    ],
)
def test_one_parser_reads_any_label(label, parts):
    assert split_label(label) == parts
    assert family_of(label) == parts[0]


@pytest.mark.parametrize(
    "text,parts",
    [
        ("psnr", ("psnr", None)),
        ("clip_t[ViT-B-32/openai]", ("clip_t", "ViT-B-32/openai")),
        ("copy_rate[alex+toy]", ("copy_rate", "alex+toy")),
        ("clip_t[toy", None),
        ("clip_t[toy]x", None),
        ("clip_t[]", None),
        ("Clip_t", None),
        ("clip-t", None),
        ("l1_target", ("l1_target", None)),
        ("1_target", None),
        ("clip_t[a]b]", None),
        ("", None),
    ],
)
def test_strict_parser_reads_only_metric_names(text, parts):
    assert strict_parts(text) == parts


def test_column_label_without_lpips_is_the_name():
    for text in ("psnr", "clip_t[toy]", "prompt_insensitivity[toy]", "oracle_faithful"):
        assert column_label(check_metric_name(text)) == text
