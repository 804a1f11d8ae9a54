"""CLIP-space, overfitting and oracle metrics on controlled inputs (fake backbones)."""

import math
from dataclasses import replace

import numpy as np
import torch

from sine_bench.metrics import clip, oracle, overfit
from sine_bench.metrics.inputs import CellInputs
from sine_bench.metrics.registry import check_metric_name
from sine_bench.toy.scenes import random_scene, render, scene_with
from tests.fakes import register_fakes

register_fakes()
CLIP = check_metric_name("clip_t[test-fake]")


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255


def test_clip_metrics_ranges_and_identities():
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    x = CellInputs(a, a, "a red disc", "a blue disc", "a red disc")
    assert abs(clip.clip_i(CLIP, x) - 1.0) < 1e-6
    assert -100 <= clip.clip_t(CLIP, x) <= 100
    assert math.isnan(clip.clip_dir(CLIP, x))  # zero image direction
    y = CellInputs(a, b, "a red disc", "", "a red disc")
    assert math.isnan(clip.clip_dir(CLIP, y)) and math.isnan(clip.clip_t_src(CLIP, y))
    assert clip.mean_pairwise_similarity(CLIP, [a, a, a]) > 0.999
    assert math.isnan(clip.mean_pairwise_similarity(CLIP, [a]))


def test_overfit_copy_and_gap():
    src = torch.rand(1, 3, 32, 32)
    copy = CellInputs(src, src.clone(), "a red disc", "a blue disc", "a red disc")
    assert overfit.copy_rate(check_metric_name("copy_rate[test-fake+test-fake]"), copy) == 1.0
    far = CellInputs(src, 1 - src, "a red disc", "a blue disc", "a red disc")
    assert overfit.copy_rate(check_metric_name("copy_rate[test-fake+test-fake]"), far) == 0.0
    gap = check_metric_name("editability_gap[test-fake]")
    same = CellInputs(src, src, "p", "s", "p", reference=src)
    assert overfit.editability_gap(gap, same) == 0.0
    memo = check_metric_name("memorization[test-fake]")
    assert overfit.memorization(memo, CellInputs(src, src, "p", "s", "p", memorized=src)) == 0.0


def test_oracle_scores_a_perfect_edit_and_a_copy():
    scene = random_scene(0, n_objects=1)  # a large blue circle on a white background
    target = scene_with(scene, background="red")
    source, edited = _t(render(scene, 64, 64)), _t(render(target, 64, 64))
    name = check_metric_name("oracle_edit_success")
    perfect = CellInputs(source, edited, target.caption(), scene.caption(), target.caption())
    assert oracle.oracle_edit_success(name, perfect) == 1.0
    assert oracle.oracle_preserved(name, perfect) == 1.0
    assert oracle.oracle_count(name, perfect) == 1.0
    copied = CellInputs(source, source, target.caption(), scene.caption(), target.caption())
    assert oracle.oracle_edit_success(name, copied) == 0.0
    assert oracle.oracle_preserved(name, copied) == 1.0


def _cell(source, edit, target: str, h: int = 64, w: int = 64) -> CellInputs:
    return CellInputs(
        _t(render(source, h, w)), _t(render(edit, h, w)), target, source.caption(), target
    )


def _faithful(x: CellInputs) -> tuple[float, float, float, float]:
    name = check_metric_name("oracle_faithful")
    return (
        oracle.oracle_edit_success(name, x),
        oracle.oracle_structure(name, x),
        oracle.oracle_offset(name, x),
        oracle.oracle_faithful(name, x),
    )


def test_faithful_needs_the_edit_and_the_layout():
    for h, w in ((64, 64), (64, 96)):
        scene = random_scene(5, aspect=w / h, n_objects=1, striped_prob=0.0)
        obj = scene.objects[0]
        bg = next(c for c in ("red", "blue", "green") if c not in (obj.color, scene.background))
        target = scene_with(scene, background=bg)
        # the asked edit, in place
        assert _faithful(_cell(scene, target, target.caption(), h, w)) == (1.0, 1.0, 0.0, 1.0)
        # the asked edit, but the object redrawn elsewhere: a regeneration, not an edit
        elsewhere = scene_with(target, objects=(replace(obj, x=1 - obj.x, y=1 - obj.y),))
        success, structure, offset, faithful = _faithful(
            _cell(scene, elsewhere, target.caption(), h, w)
        )
        assert success == 1.0 and structure == 0.0 and offset > 0.1 and faithful == 0.0
        # a copy of the source: layout kept, edit not made
        success, structure, _, faithful = _faithful(_cell(scene, scene, target.caption(), h, w))
        assert success == 0.0 and structure == 1.0 and faithful == 0.0
        # the edit plus an object nobody asked for
        extra = replace(obj, x=0.15 if obj.x > 0.5 else 0.85, y=0.15, size="small")
        crowded = scene_with(target, objects=(obj, extra))
        success, structure, _, faithful = _faithful(_cell(scene, crowded, target.caption(), h, w))
        assert structure == 1.0 and faithful == 0.0


def test_faithful_recolour_of_the_wrong_object_fails():
    scene = random_scene(1, n_objects=2, striped_prob=0.0)
    a, b = sorted(scene.objects, key=lambda o: o.x)
    color = next(
        c for c in ("purple", "orange", "red") if c not in (a.color, b.color, scene.background)
    )
    right = scene_with(scene, objects=(replace(a, color=color), b))
    wrong = scene_with(scene, objects=(a, replace(b, color=color)))
    assert _faithful(_cell(scene, right, right.caption()))[3] == 1.0
    assert _faithful(_cell(scene, wrong, right.caption()))[3] == 0.0
