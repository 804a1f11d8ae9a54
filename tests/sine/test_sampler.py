"""The SINE edit loop on the tiny random model: exactness, counting, sizes, errors."""

import pytest
import torch

from sine_bench.sine import (
    EvaluationCounter,
    FinetunedModel,
    ModelWindow,
    MultiModelPlan,
    ResolutionError,
    SinePlan,
    sample_latents,
    sine_edit,
)
from sine_bench.sine.sampler import initial_latents, make_scheduler

STEPS = 10


def _run(model, ft, v, k, prompt="a blue square", seed=0, h=64, w=64, counter=None):
    plan = SinePlan(v=v, k=k, guidance_scale=7.5)
    return sample_latents(
        model,
        [ft],
        plan,
        prompt,
        height=h,
        width=w,
        steps=STEPS,
        generator=torch.Generator().manual_seed(seed),
        counter=counter,
    )


def _diffusers_reference(model, prompt, seed, h=64, w=64):
    """Plain pretrained CFG sampled by diffusers' own StableDiffusionPipeline."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=model.vae,
        text_encoder=model.text_encoder,
        tokenizer=model.tokenizer,
        unet=model.unet,
        scheduler=make_scheduler(model, STEPS),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    latents = initial_latents(model, h, w, torch.Generator().manual_seed(seed))
    out = pipe(
        prompt,
        negative_prompt="",
        height=h,
        width=w,
        num_inference_steps=STEPS,
        guidance_scale=7.5,
        latents=latents,
        output_type="latent",
        eta=0.0,
    )
    return out.images


def test_v_one_and_k_1000_give_the_pretrained_cfg_sample(tiny_model, perturbed):
    reference = _diffusers_reference(tiny_model, "a blue square", seed=3)
    v_one = _run(tiny_model, perturbed, v=1.0, k=0, seed=3)
    k_max = _run(tiny_model, perturbed, v=0.3, k=1000, seed=3)
    assert torch.equal(v_one, k_max)
    torch.testing.assert_close(v_one, reference, rtol=1e-5, atol=1e-5)
    guided = _run(tiny_model, perturbed, v=0.3, k=0, seed=3)
    assert not torch.allclose(guided, reference, atol=1e-3)


def test_v_zero_k_zero_ignores_pretrained_conditional(tiny_model, perturbed):
    # eps = eps_u + w (eps_f - eps_u): the edit prompt has no effect at all...
    a = _run(tiny_model, perturbed, v=0.0, k=0, prompt="a blue square")
    b = _run(tiny_model, perturbed, v=0.0, k=0, prompt="a green triangle")
    assert torch.equal(a, b)
    # ...but the fine-tuned model's prompt does
    other = FinetunedModel(perturbed.unet, perturbed.text_encoder, "a photo of a sks cat")
    c = _run(tiny_model, other, v=0.0, k=0)
    assert not torch.allclose(a, c, atol=1e-4)
    # and with v > 0 the edit prompt matters again
    d = _run(tiny_model, perturbed, v=0.5, k=0, prompt="a green triangle")
    assert not torch.allclose(a, d, atol=1e-4)


def test_three_evaluations_per_guided_step_two_after(tiny_model, perturbed):
    rows = {"pre": 0, "ft": 0}

    def hook(name):
        def count(module, args, kwargs):
            rows[name] += args[0].shape[0]

        return count

    handles = [
        tiny_model.unet.register_forward_pre_hook(hook("pre"), with_kwargs=True),
        perturbed.unet.register_forward_pre_hook(hook("ft"), with_kwargs=True),
    ]
    try:
        counter = EvaluationCounter()
        _run(tiny_model, perturbed, v=0.7, k=400, counter=counter)
    finally:
        for h in handles:
            h.remove()
    # timesteps 901, 801, ..., 1: six are > 400
    assert counter.per_step == [3] * 6 + [2] * 4
    assert rows == {"pre": 2 * STEPS, "ft": 6}
    assert counter.total == 26 == rows["pre"] + rows["ft"]


def test_non_square_request_returns_that_size(tiny_model, perturbed):
    image = sine_edit(tiny_model, perturbed, "a blue square", height=64, width=128, steps=4)
    assert image.shape == (1, 3, 64, 128)
    assert image.min() >= 0 and image.max() <= 1
    tall = sine_edit(tiny_model, perturbed, "a blue square", height=96, width=32, steps=2)
    assert tall.shape == (1, 3, 96, 32)


@pytest.mark.parametrize("h,w", [(63, 64), (64, 66), (0, 64), (64, 100000)])
def test_bad_resolution_raises_naming_it(tiny_model, perturbed, h, w):
    with pytest.raises(ResolutionError, match=f"{h}x{w}"):
        sine_edit(tiny_model, perturbed, "x", height=h, width=w, steps=2)


def test_same_seed_same_image_other_seed_other_image(tiny_model, perturbed):
    a = _run(tiny_model, perturbed, v=0.7, k=400, seed=11)
    b = _run(tiny_model, perturbed, v=0.7, k=400, seed=11)
    c = _run(tiny_model, perturbed, v=0.7, k=400, seed=12)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_invalid_v_and_k():
    with pytest.raises(ValueError, match="v must"):
        SinePlan(v=1.5, k=400, guidance_scale=7.5)
    with pytest.raises(ValueError, match="K must"):
        SinePlan(v=0.5, k=1001, guidance_scale=7.5)


def test_multi_model_windows(tiny_model, perturbed):
    plan = MultiModelPlan(
        windows=(ModelWindow(0.3, t_min=500, t_max=1000), ModelWindow(0.2, t_min=0, t_max=300)),
        guidance_scale=7.5,
    )
    counter = EvaluationCounter()
    sample_latents(
        tiny_model,
        [perturbed, perturbed],
        plan,
        "a blue square",
        height=64,
        width=64,
        steps=STEPS,
        generator=torch.Generator().manual_seed(0),
        counter=counter,
    )
    # 901..501 -> model 0 (t > 500); 401, 301 -> none; 201, 101, 1 -> model 1 (t <= 300)
    assert counter.per_step == [3, 3, 3, 3, 3, 2, 2, 3, 3, 3]
    # one model over (K, 1000] with weight 1 - v is the single-model SINE sample
    single = MultiModelPlan(windows=(ModelWindow(0.3, t_min=400),), guidance_scale=7.5)
    a = sample_latents(
        tiny_model,
        [perturbed],
        single,
        "a blue square",
        height=64,
        width=64,
        steps=STEPS,
        generator=torch.Generator().manual_seed(0),
    )
    b = _run(tiny_model, perturbed, v=0.7, k=400)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
