"""K-prefix sharing and batching: the grid sampler equals edit-by-edit sampling."""

import pytest
import torch

from sine_bench.sine import EvaluationCounter
from sine_bench.sine.grid_sampler import (
    EditRequest,
    count_evaluations,
    sample_grid,
    sample_one,
    timesteps_for,
)

STEPS = 10
K_SWEEP = [0, 200, 500, 800, 1000]


def _one_by_one(model, ft, request, eta=0.0, h=64, w=64):
    counter = EvaluationCounter()
    latents = sample_one(
        model, ft, request, height=h, width=w, steps=STEPS, eta=eta, counter=counter
    )
    return latents, counter.total


def _grid(prompts=("a blue square",), seeds=(0,), vs=(0.6,), ks=K_SWEEP):
    return [EditRequest(p, v, k, 7.5, s) for p in prompts for s in seeds for v in vs for k in ks]


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_k_sharing_is_bitwise_equal_to_unshared(tiny_model, perturbed, eta):
    requests = _grid(seeds=(0, 1), vs=(0.6, 1.0))
    counter = EvaluationCounter()
    shared = sample_grid(
        tiny_model,
        perturbed,
        requests,
        height=64,
        width=64,
        steps=STEPS,
        eta=eta,
        counter=counter,
    )
    naive_total = 0
    for request, latents in zip(requests, shared, strict=True):
        expected, evaluations = _one_by_one(tiny_model, perturbed, request, eta=eta)
        naive_total += evaluations
        assert torch.equal(latents, expected), request
    counts = count_evaluations(requests, timesteps_for(STEPS))
    assert counts == {"naive": naive_total, "shared": counter.total}
    assert counter.total < naive_total


def test_batched_equals_one_by_one_within_tolerance(tiny_model, perturbed):
    requests = _grid(prompts=("a blue square", "a red disc"), seeds=(0, 3), ks=(0, 500))
    batched = sample_grid(
        tiny_model, perturbed, requests, height=64, width=64, steps=STEPS, batch_size=5
    )
    for request, latents in zip(requests, batched, strict=True):
        expected, _ = _one_by_one(tiny_model, perturbed, request)
        torch.testing.assert_close(latents, expected, atol=1e-4, rtol=1e-4)


def test_an_edit_does_not_depend_on_its_batch_mates(tiny_model, perturbed):
    alone = _grid(seeds=(7,), ks=(300,))
    crowd = _grid(prompts=("a red disc", "a blue square"), seeds=(1, 7), ks=(0, 300))
    one = sample_grid(tiny_model, perturbed, alone, height=64, width=64, steps=STEPS)[0]
    many = sample_grid(tiny_model, perturbed, crowd, height=64, width=64, steps=STEPS, batch_size=8)
    torch.testing.assert_close(many[crowd.index(alone[0])], one, atol=1e-4, rtol=1e-4)


def test_non_square_grid(tiny_model, perturbed):
    requests = _grid(ks=(0, 1000))
    out = sample_grid(tiny_model, perturbed, requests, height=64, width=96, steps=STEPS)
    expected, _ = _one_by_one(tiny_model, perturbed, requests[0], h=64, w=96)
    assert out[0].shape == expected.shape
    assert torch.equal(out[0], expected)


def test_paper_sweep_counts_match_the_issue():
    timesteps = timesteps_for(100)
    by_200 = _grid(ks=range(0, 1001, 200))
    by_100 = _grid(ks=range(0, 1001, 100))
    assert count_evaluations(by_200, timesteps) == {"naive": 1500, "shared": 900}
    assert count_evaluations(by_100, timesteps) == {"naive": 2750, "shared": 1400}


def test_pretrained_only_grid_needs_no_finetune(tiny_model):
    requests = [EditRequest("a blue square", 1.0, 1000, 7.5, 0)]
    out = sample_grid(tiny_model, None, requests, height=64, width=64, steps=STEPS)
    assert out[0].shape[-2:] == (16, 16)
    with pytest.raises(ValueError, match="fine-tuned"):
        sample_grid(tiny_model, None, _grid(ks=(0,)), height=64, width=64, steps=STEPS)


def test_bad_batch_size(tiny_model, perturbed):
    with pytest.raises(ValueError, match="batch_size"):
        sample_grid(tiny_model, perturbed, _grid(), height=64, width=64, batch_size=0)
