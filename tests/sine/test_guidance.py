import torch

from sine_bench.sine.guidance import (
    ModelWindow,
    is_guided,
    multi_model_guidance,
    pretrained_guidance,
    sine_guidance,
)


def _eps():
    g = torch.Generator().manual_seed(1)
    return [torch.randn(1, 4, 8, 8, generator=g) for _ in range(3)]


def test_v_one_is_pretrained_cfg_exactly():
    eps_u, eps_c, eps_f = _eps()
    assert torch.equal(
        sine_guidance(eps_u, eps_c, eps_f, v=1.0, w=7.5), pretrained_guidance(eps_u, eps_c, 7.5)
    )


def test_v_zero_uses_finetuned_conditional_and_pretrained_unconditional():
    eps_u, eps_c, eps_f = _eps()
    out = sine_guidance(eps_u, eps_c, eps_f, v=0.0, w=7.5)
    torch.testing.assert_close(out, eps_u + 7.5 * (eps_f - eps_u), rtol=0, atol=0)
    # the pretrained conditional prediction has no influence
    out2 = sine_guidance(eps_u, eps_c + 100.0, eps_f, v=0.0, w=7.5)
    assert torch.equal(out, out2)


def test_mix_formula():
    eps_u, eps_c, eps_f = _eps()
    v, w = 0.7, 7.5
    expected = eps_u + w * (v * eps_c + (1 - v) * eps_f - eps_u)
    torch.testing.assert_close(sine_guidance(eps_u, eps_c, eps_f, v=v, w=w), expected)
    assert not torch.allclose(sine_guidance(eps_u, eps_c, eps_f, v=0.3, w=w), expected)


def test_k_is_a_timestep_threshold():
    assert is_guided(991, 400) and is_guided(401, 400)
    assert not is_guided(400, 400) and not is_guided(1, 400)
    assert not is_guided(999, 1000)
    assert is_guided(1, 0)


def test_multi_model_reduces_to_single_and_sums_weights():
    eps_u, eps_c, eps_f = _eps()
    single = multi_model_guidance(eps_u, eps_c, [eps_f], [0.3], 7.5)
    torch.testing.assert_close(single, sine_guidance(eps_u, eps_c, eps_f, v=0.7, w=7.5))
    eps_g = eps_f * 2 - 1
    two = multi_model_guidance(eps_u, eps_c, [eps_f, eps_g], [0.2, 0.5], 5.0)
    expected = eps_u + 5.0 * (0.3 * eps_c + 0.2 * eps_f + 0.5 * eps_g - eps_u)
    torch.testing.assert_close(two, expected)


def test_window_membership():
    win = ModelWindow(weight=0.4, t_min=200, t_max=700)
    assert win.active(700) and win.active(201)
    assert not win.active(200) and not win.active(701)
