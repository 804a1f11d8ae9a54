"""A protocol without ``methods`` is SINE exactly as before methods existed: the same
fine-tune, edit and edit-unit keys (so every store, the committed baselines and
``compare`` keep working), and SINE inside a multi-method protocol shares them."""

import hashlib

import yaml

from sine_bench.methods.preparation import input_preparation
from sine_bench.methods.sine import finetune_settings
from sine_bench.protocol.loading import load_protocol
from sine_bench.runner.keys import edit_key, finetune_key
from sine_bench.runner.plan import build_plan
from tests.helpers import ROOT

TOY_SMOKE = ROOT / "protocols" / "toy-smoke.yaml"

# protocols/toy-smoke.yaml's keys, without methods/ (toy-smoke on datasets/toy-main; its
# non-square sources' fine-tunes keyed with issue 13's input preparation, an antialiased
# downscale). Last changed by issue 24 (twelve sources: seven added, the five before kept
# their fine-tune and edit keys). They change only with the toy weights, the toy-smoke
# images or settings, METHOD_VERSION or the input preparation: update them then, never
# for a change of the harness.
TOY_SMOKE_FINETUNES = [
    "1833ac17142334d45281",
    "26d965e41faf17b13d2d",
    "5174b4c9df60c7506014",
    "5648f4d10b7d868856e1",
    "65158f609e51dda6c0c7",
    "7c21f67b438990da2fc1",
    "82f7946d751719c262b8",
    "a26441046128d725c08e",
    "ba485984c6aeedfad53d",
    "c38dda0dd443f680dfd6",
    "cd5b707298f678bfa867",
    "ee2c40167367354de949",
]
TOY_SMOKE_EDITS = ("7d735a4597f0e027", 228)  # sha256 of the sorted keys, first 16; count
TOY_SMOKE_UNITS = "20ea402121fa4247"


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
        size, notes = plan.image_sizes[cell.item], plan.image_notes.get(cell.item, [])
        prepared = input_preparation(size, plan.native, plan.factor, settings, notes)
        ft = finetune_key(plan.image_sha[cell.item], plan.model_id, prompt, settings, prepared)
        e = cell.edit
        edit = dict(v=e.v, K=e.K, guidance=e.guidance, steps=e.steps, eta=e.eta)
        edit |= dict(scheduler=e.scheduler)
        if e.batch_size > 1:  # batched grid rows can change the last bits: in the key
            edit |= dict(batch_size=e.batch_size)
        edit |= dict(height=cell.height, width=cell.width, seed=e.seed)
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
