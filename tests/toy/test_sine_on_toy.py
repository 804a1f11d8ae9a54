"""The documented SINE example in the toy world (sine_bench/toy/README.md).

Fine-tune the toy model on one scene (a large red circle and a small yellow square on
a blue background), then edit with the prompt that asks for a green background. The
oracle reads the edited attribute from the pixels: the fine-tuned model alone (v = 0)
keeps the blue background, SINE's guided edits turn it green and keep both objects.
"""

import pytest
import torch

from sine_bench.models.loading import load_model
from sine_bench.sine import FinetuneSettings, finetune, sine_edit
from sine_bench.toy.evaluate import to_uint8
from sine_bench.toy.oracle import read_image
from sine_bench.toy.scenes import Scene, SceneObject, render

SCENE = Scene(
    "blue",
    (
        SceneObject("circle", "red", "large", 0.35, 0.5),
        SceneObject("square", "yellow", "small", 0.75, 0.4),
    ),
)
EDIT = "a large red circle and a small yellow square on a green background"


@pytest.fixture(scope="module")
def edits():
    torch.set_num_threads(1)
    model = load_model("toy", device="cpu")
    source = torch.from_numpy(render(SCENE)).permute(2, 0, 1).float() / 127.5 - 1
    result = finetune(
        model,
        source,
        "a photo of a sks circle",
        FinetuneSettings(steps=150, learning_rate=3e-4, seed=0),
        progress=False,
    )
    out = {}
    for v in (0.0, 0.5, 0.7):
        for seed in (0, 1):
            image = sine_edit(
                model, result.model, EDIT, v=v, k=400, guidance_scale=5.0, steps=50, seed=seed
            )
            out[(v, seed)] = read_image(to_uint8(image)[0])
    return out


def test_finetuned_model_alone_ignores_the_edit(edits):
    # the source's background, whatever the prompt asks (its colours come out
    # over-saturated and blotchy, which the oracle reads as extra small objects)
    assert [edits[(0.0, seed)].background for seed in (0, 1)] == ["blue", "blue"]


def test_sine_edit_changes_the_background_and_keeps_the_objects(edits):
    guided = [edits[(v, s)] for v in (0.5, 0.7) for s in (0, 1)]
    assert sum(r.background == "green" for r in guided) >= 3, guided
    objects = [sorted((o.color, o.shape) for o in r.objects) for r in guided]
    assert objects.count([("red", "circle"), ("yellow", "square")]) >= 3, objects
