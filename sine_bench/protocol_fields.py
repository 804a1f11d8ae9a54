"""Field types every protocol section shares: strict models, seeds, paths, resolutions.

Kept apart from ``protocol.py`` (the sections) and ``grid_spec.py`` (the sweeps) so both
can use them; like them, nothing here imports torch.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .protocol_files import _short


class _Strict(BaseModel):
    # inf and nan are never a setting: they would only overflow deep in a sampler
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


RESOLUTION_WORDS = ("native", "source-aspect", "source")
_HXW = re.compile(r"^(\d{1,6})x(\d{1,6})$")
MAX_SEED = 2**63 - 1  # torch generators take 64 bits; negative seeds alias large ones
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Text = Annotated[str, Field(min_length=1)]


def _path_text(value: str) -> str:
    """A path the OS can take: no NUL byte, at most 4096 characters, parts of 255 bytes."""
    if "\x00" in value:
        raise ValueError(f"path {_short(value)} contains a NUL character")
    if len(value) > 4096 or any(len(part.encode()) > 255 for part in value.split("/")):
        raise ValueError(f"path {_short(value)} is longer than a file system allows")
    return value


PathText = Annotated[str, Field(min_length=1), AfterValidator(_path_text)]
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def check_resolution_label(value: str) -> str:
    """'native', 'source-aspect', 'source' or 'HxW' (positive integers)."""
    match = _HXW.match(value)
    if value in RESOLUTION_WORDS or (match and int(match.group(1)) and int(match.group(2))):
        return value
    raise ValueError(
        f"resolution must be 'HxW' (positive sides), 'native', 'source-aspect' or 'source', "
        f"got {value!r}"
    )


def _nonblank(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} is empty or only whitespace")
    return value
