"""Keyword differences between the diffusers / transformers versions sine-bench supports."""

from __future__ import annotations

import importlib.metadata

import torch
from packaging.version import Version

# First releases whose ``from_pretrained`` takes ``dtype=`` (and deprecate ``torch_dtype=``).
DTYPE_KEYWORD_SINCE = {"diffusers": Version("0.40.0"), "transformers": Version("4.56.0")}


def dtype_kwargs(library: str, dtype: torch.dtype | None) -> dict[str, torch.dtype]:
    """``{"dtype": d}`` or ``{"torch_dtype": d}`` for ``library``'s ``from_pretrained``.

    Passing the dtype at load time (not casting afterwards) keeps the modules a model
    marks as float32-only in float32; the keyword is whatever the installed version wants.
    """
    if dtype is None:
        return {}
    installed = Version(importlib.metadata.version(library))
    key = "dtype" if installed >= DTYPE_KEYWORD_SINCE[library] else "torch_dtype"
    return {key: dtype}
