"""A protocol without ``methods`` is SINE exactly as before methods existed: the same
fine-tune, edit and edit-unit keys (so every store, the committed baselines and
``compare`` keep working), and SINE inside a multi-method protocol shares them."""

import hashlib

import yaml

from sine_bench.protocol import load_protocol
from sine_bench.runner.keys import edit_key, finetune_key
from sine_bench.runner.plan import build_plan, finetune_settings
from tests.conftest import ROOT

TOY_SMOKE = ROOT / "protocols" / "toy-smoke.yaml"

# protocols/toy-smoke.yaml's keys as main computed them at b49cb93, before methods/
# existed (toy-smoke recalibrated on datasets/toy-demo). They change
# only with the toy weights, the toy-smoke images or METHOD_VERSION: update them then,
# never for a change of the harness.
TOY_SMOKE_FINETUNES = ["1833ac17142334d45281", "94c928b1dddba7c8b246", "a26441046128d725c08e"]
TOY_SMOKE_EDITS = ("a2216c5dad74421e", 116)  # sha256 of the sorted keys, first 16; count
TOY_SMOKE_UNITS = "847715d5832283e2"


def _short(keys) -> str:
    return hashlib.sha256(" ".join(sorted(keys)).encode()).hexdigest()[:16]


def _toy_smoke():
    return build_plan(load_protocol(TOY_SMOKE), root=ROOT)


def test_toy_smoke_keys_are_unchanged():
    plan = _toy_smoke()
    assert sorted(plan.finetunes) == TOY_SMOKE_FINETUNES
    assert (_short(plan.edits), len(plan.edits)) == TOY_SMOKE_EDITS
    assert _short(u.key for u in plan.units) == TOY_SMOKE_UNITS
    assert {c.cell.method for c in plan.cells} == {"sine"}


def test_sine_cells_follow_the_historical_key_recipe():
    """Re-derived here from the recipe itself, not from methods/sine.py."""
    plan = _toy_smoke()
    for entry in plan.cells:
        cell, item = entry.cell, plan.items[entry.cell.item].spec
        prompt = cell.finetune.prompt_template.format(class_word=item.class_word)
        settings = finetune_settings(cell.finetune, plan.native, plan.factor)
        ft = finetune_key(plan.image_sha[cell.item], plan.model_id, prompt, settings)
        e = cell.edit
        edit = dict(v=e.v, K=e.K, guidance=e.guidance, steps=e.steps, eta=e.eta)
        edit |= dict(scheduler=e.scheduler, height=cell.height, width=cell.width, seed=e.seed)
        assert (entry.finetune, entry.edit) == (ft, edit_key(ft, cell.prompt, edit))


def _with_methods(tmp_path, methods) -> object:
    data = {"include": str(TOY_SMOKE), "methods": methods}
    path = tmp_path / "with-methods.yaml"
    path.write_text(yaml.safe_dump(data))
    return build_plan(load_protocol(path), root=ROOT)


def test_sine_among_other_methods_shares_its_keys(tmp_path):
    alone = _toy_smoke()
    listed = _with_methods(tmp_path, {"sine": {}, "pretrained": {}, "sdedit": {}})
    sine_cells = [c for c in listed.cells if c.cell.method == "sine"]
    assert [c.edit for c in sine_cells] == [c.edit for c in alone.cells]
    assert set(alone.finetunes) == set(listed.finetunes)  # sdedit and pretrained train nothing
    # the pretrained method's edits are the references SINE's editability_gap reads
    references = {c.reference for c in alone.cells}
    assert {c.edit for c in listed.cells if c.cell.method == "pretrained"} <= references
