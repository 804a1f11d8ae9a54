"""Fixtures shared by the SINE sampler tests."""

import copy

import pytest
import torch

from sine_bench.sine import FinetunedModel


@pytest.fixture(scope="module")
def perturbed(tiny_model) -> FinetunedModel:
    """A stand-in fine-tune: the pretrained weights plus a fixed perturbation."""
    unet = copy.deepcopy(tiny_model.unet)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return FinetunedModel(unet, tiny_model.text_encoder, "a photo of a sks disc")
