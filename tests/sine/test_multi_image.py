"""Many images per UNet call: a grid over several fine-tunes equals per-image sampling."""

import copy

import pytest
import torch

from sine_bench.sine import EvaluationCounter, FinetunedModel
from sine_bench.sine.grid_sampler import (
    EditRequest,
    count_evaluations,
    sample_grid,
    sample_one,
    timesteps_for,
)
from sine_bench.sine.lora import (
    LoraSettings,
    adapter_name,
    add_lora,
    attach_lora,
    detach_lora,
    save_lora,
)
from sine_bench.sine.position import PositionEncodingConfig

STEPS = 6
TOLERANCE = 1e-4  # max |latent difference|, as batch_size's (same kernels on more rows)
PROMPT = "a photo of a sks disc"


def _requests(n_models):
    """Per fine-tune (its own seed): a K sweep that forks (guided, then plain rows)."""
    return [
        EditRequest("a blue square", 0.6, k, 7.5, m, model=m)
        for m in range(n_models)
        for k in (0, 500)
    ]


def _check(model, finetunes, per_image, requests, **kw):
    counter = EvaluationCounter()
    many = sample_grid(
        model, finetunes, requests, height=64, width=64, steps=STEPS, counter=counter, **kw
    )
    one = EvaluationCounter()
    for m in sorted({r.model for r in requests}):
        alone = per_image(m)  # one fine-tune loaded at a time, as images_per_call 1 does
        for request, latents in zip(requests, many, strict=True):
            if request.model == m:
                kw = dict(height=64, width=64, steps=STEPS, counter=one)
                expected = sample_one(model, alone, request, **kw)
                assert (latents - expected).abs().max().item() <= TOLERANCE, request
    counts = count_evaluations(requests, timesteps_for(STEPS))
    assert counts == {"naive": one.total, "shared": counter.total}
    return counter


def test_full_finetunes_share_the_pretrained_calls(tiny_model, perturbed):
    other = copy.deepcopy(perturbed)
    with torch.no_grad():
        for p in other.unet.parameters():
            p.mul_(0.98)
    finetunes = [perturbed, other]
    _check(tiny_model, finetunes, lambda m: finetunes[m], _requests(2), images_per_call=2)


def _saved_adapter(unet, folder, seed, settings):
    add_lora(unet, settings)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if ".sine." in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    save_lora(unet, folder)
    detach_lora(unet)
    return folder


def test_lora_finetunes_share_every_call(tiny_model, tmp_path):
    """Three adapters side by side: a sine-lora one and two sine-lora-patch ones (one
    call mixes the two patch adapters, the plain one runs without the encoding)."""
    base, settings = tiny_model.unet, LoraSettings(rank=4)
    pe = PositionEncodingConfig(grid=4, channels=base.conv_in.out_channels)
    encodings = [None, pe, pe]
    folders = [_saved_adapter(base, tmp_path / str(i), 10 + i, settings) for i in range(3)]

    def per_image(m):  # the default single attachment, as an images_per_call 1 unit
        view = attach_lora(base, folders[m], settings, encodings[m])
        return FinetunedModel(view, tiny_model.text_encoder, PROMPT)

    detach_lora(base)
    pairs = zip(folders, encodings, strict=True)
    views = [attach_lora(base, f, settings, e, adapter_name(i)) for i, (f, e) in enumerate(pairs)]
    finetunes = [FinetunedModel(v, tiny_model.text_encoder, PROMPT) for v in views]
    try:
        _check(tiny_model, finetunes, per_image, _requests(3), images_per_call=3)
    finally:
        detach_lora(base)


def test_lora_patch_finetunes_with_other_encodings_refuse_to_share(tiny_model, tmp_path):
    base, settings = tiny_model.unet, LoraSettings(rank=4)
    folder = _saved_adapter(base, tmp_path / "a", 1, settings)
    channels = base.conv_in.out_channels
    try:
        four, eight = PositionEncodingConfig(4, channels), PositionEncodingConfig(8, channels)
        attach_lora(base, folder, settings, four, adapter_name(0))
        with pytest.raises(ValueError, match="different position encodings"):
            attach_lora(base, folder, settings, eight, adapter_name(1))
    finally:
        detach_lora(base)
