"""Field types every protocol section shares, and the errors a protocol raises.

The ground floor of the protocol package: strict models, seeds, paths, the one parser
of "HxW" size labels, one-line value quoting. Nothing here imports torch or another
module of the package.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..errors import InputError


class ProtocolError(InputError):
    """A protocol or dataset manifest is invalid; the message is one line naming the field."""


class MethodError(InputError):
    """An unknown method or knob, or a setting a method cannot run with."""


class StrictModel(BaseModel):
    """A protocol section: unknown fields are errors, values never change after parsing."""

    # inf and nan are never a setting: they would only overflow deep in a sampler
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def short(value: Any, limit: int = 60) -> str:
    """repr of a user value for a one-line message, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def key_text(key: Any) -> str:
    """A user's key as a message shows it: as typed when plain printable ASCII, else with
    Python's escapes and no quotes, so a look-alike (Cyrillic 'е', a zero-width space)
    never reads as the field it imitates ("unknown field 'edit' (did you mean 'edit'?)")."""
    text = str(key)
    return text if text.isascii() and text.isprintable() else ascii(text)[1:-1]


RESOLUTION_WORDS = ("native", "source-aspect", "source")
_HXW = re.compile(r"^(\d{1,6})x(\d{1,6})$")
MAX_SEED = 2**63 - 1  # torch generators take 64 bits; negative seeds alias large ones
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Text = Annotated[str, Field(min_length=1)]
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def parse_hxw(label: str) -> tuple[int, int] | None:
    """(height, width) of an 'HxW' label with positive sides; None for anything else.

    The one parser of size labels: protocol fields accept a label only when this reads
    it, so every later reader of a parsed protocol gets a size back."""
    match = _HXW.match(label)
    if not match or not int(match.group(1)) or not int(match.group(2)):
        return None
    return int(match.group(1)), int(match.group(2))


def hxw(label: str) -> tuple[int, int]:
    """(height, width) of an 'HxW' label a protocol field has already accepted."""
    size = parse_hxw(label)
    if size is None:
        raise ValueError(f"not an 'HxW' size with positive sides: {short(label)}")
    return size


def check_resolution_label(value: str) -> str:
    """'native', 'source-aspect', 'source' or 'HxW' (positive integers)."""
    if value in RESOLUTION_WORDS or parse_hxw(value):
        return value
    raise ValueError(
        f"resolution must be 'HxW' (positive sides), 'native', 'source-aspect' or 'source', "
        f"got {value!r}"
    )


def check_path_text(value: str) -> str:
    """A path the OS can take: no NUL byte, at most 4096 characters, parts of 255 bytes."""
    if "\x00" in value:
        raise ValueError(f"path {short(value)} contains a NUL character")
    if len(value) > 4096 or any(len(part.encode()) > 255 for part in value.split("/")):
        raise ValueError(f"path {short(value)} is longer than a file system allows")
    return value


PathText = Annotated[str, Field(min_length=1), AfterValidator(check_path_text)]


def nonblank(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} is empty or only whitespace")
    return value


def no_repeats(values: list) -> None:
    """ValueError naming the first value a list gives twice (a silent duplicate cell)."""
    seen: list = []
    for value in values:
        if value in seen:
            raise ValueError(f"lists the value {short(value)} twice (remove the repeat)")
        seen.append(value)
