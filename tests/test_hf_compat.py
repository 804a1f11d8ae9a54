import importlib.metadata
import warnings

import pytest
import torch

from sine_bench.models.loading import load_model
from sine_bench.sine import hf_compat


@pytest.mark.parametrize(
    ("library", "version", "key"),
    [
        ("diffusers", "0.39.0", "torch_dtype"),
        ("diffusers", "0.40.0", "dtype"),
        ("transformers", "4.55.4", "torch_dtype"),
        ("transformers", "5.0.0", "dtype"),
    ],
)
def test_dtype_keyword_follows_the_installed_version(monkeypatch, library, version, key):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    assert hf_compat.dtype_kwargs(library, torch.float16) == {key: torch.float16}
    assert hf_compat.dtype_kwargs(library, None) == {}


def test_loading_the_toy_model_warns_about_no_dtype_keyword():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model("toy")
    assert not [w for w in caught if "dtype" in str(w.message)]
