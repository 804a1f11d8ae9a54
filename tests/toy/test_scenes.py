import numpy as np
import pytest

from sine_bench.toy.scenes import COLORS, SHAPES, random_scene, render, scene_with


def test_vocabulary_sizes():
    assert len(SHAPES) >= 5 and len(COLORS) >= 8


def test_deterministic_from_seed():
    assert random_scene(5) == random_scene(5)
    assert np.array_equal(render(random_scene(5)), render(random_scene(5)))
    assert random_scene(5) != random_scene(6)


def test_caption_reads_left_to_right_and_names_background():
    scene = random_scene(11, n_objects=3)
    caption = scene.caption()
    assert caption.endswith(f"{scene.background} background")
    ordered = sorted(scene.objects, key=lambda o: o.x)
    positions = [caption.index(o.phrase()) for o in ordered]
    assert positions == sorted(positions)
    assert scene.class_words() == [o.shape for o in scene.objects]


@pytest.mark.parametrize("h,w,aspect", [(64, 64, 1.0), (64, 128, 2.0), (128, 64, 0.5)])
def test_render_any_canvas_antialiased(h, w, aspect):
    scene = random_scene(3, aspect=aspect)
    image = render(scene, h, w)
    assert image.shape == (h, w, 3) and image.dtype == np.uint8
    palette = np.array(list(COLORS.values()))
    dist = np.linalg.norm(image[..., None, :].astype(float) - palette, axis=-1).min(-1)
    assert (dist > 20).any(), "edges should hold blended (antialiased) colours"


def test_objects_do_not_overlap_and_differ_from_background():
    for seed in range(200):
        scene = random_scene(seed)
        assert 1 <= len(scene.objects) <= 3
        assert all(o.color != scene.background for o in scene.objects)


def test_scene_with_changes_background_only():
    scene = random_scene(2)
    other = scene_with(scene, background="white" if scene.background != "white" else "black")
    assert other.objects == scene.objects and other.background != scene.background
