"""Shared fixtures: the tiny random SD-architecture model, built once per session."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_model():
    from sine_bench.tiny_random import build_tiny_random

    return build_tiny_random(seed=0)


@pytest.fixture(scope="session")
def source_image() -> torch.Tensor:
    """A deterministic (3, 48, 80) non-square image in [-1, 1]: a red disc on blue."""
    h, w = 48, 80
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    disc = ((yy - 24) ** 2 + (xx - 30) ** 2 < 14**2).float()
    image = torch.stack([disc, 0.2 * (1 - disc), 1 - disc]) * 2 - 1
    return image
