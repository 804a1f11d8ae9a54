"""Where a plug-in comes from, and the identity of its code that enters cache keys.

A plug-in is an entry point of an installed distribution (groups ``GROUPS``) or a class
a protocol names as ``module:Class``. Its identity is its distribution's name and
version when it comes from a regular (non-editable) install; otherwise (a plain file on
``PYTHONPATH``, an editable install) a hash of its module's source file, so editing a
plug-in's code recomputes what it made and nothing else. Describing an origin imports
nothing (listing plug-ins stays light); the identity is read once the plug-in loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import Distribution, EntryPoint, packages_distributions
from pathlib import Path

# entry-point groups an installed package adds methods, metric families, dataset formats to
GROUPS = {
    "method": "sine_bench.methods",
    "metric family": "sine_bench.metrics",
    "dataset format": "sine_bench.datasets",
}


@dataclass(frozen=True)
class PluginOrigin:
    """A plug-in's ``module:attr`` and the distribution that installs it (None: a module
    found on the path, named by a protocol)."""

    target: str
    distribution: str | None = None
    version: str | None = None
    editable: bool = False

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def where(self) -> str:
        """One line: the distribution and version, or the module's file."""
        if self.distribution:
            edit = ", editable" if self.editable else ""
            return f"{self.distribution} {self.version}{edit} ({self.target})"
        return f"{self.target} ({module_file(self.module) or 'not found on the path'})"

    def identity(self, also: Sequence[str] = ()) -> dict[str, str]:
        """What of the plug-in's code enters its keys (call once it loaded): its
        distribution and version, else the hash of its module's source file and of the
        modules in ``also`` (a metric's scorer module)."""
        if self.distribution and not self.editable:
            return {"distribution": self.distribution, "version": str(self.version)}
        modules = list(dict.fromkeys([self.module, *also]))
        h = hashlib.sha256()
        for module in modules:
            source = module_file(module)
            h.update(f"{module}\0{source_sha(source) if source else 'unknown'}\0".encode())
        return {"module": self.module, "source": h.hexdigest()[:20]}


def entry_point_origin(point: EntryPoint) -> PluginOrigin:
    """The origin of a discovered entry point (read from its distribution's metadata)."""
    dist = point.dist
    if dist is None:
        return PluginOrigin(point.value)
    return PluginOrigin(point.value, dist.metadata["Name"], dist.version, is_editable(dist))


def class_origin(target: str) -> PluginOrigin:
    """The origin of a ``module:Class`` a protocol names: the distribution that installs
    its top-level package, if one does, else the module alone."""
    top = target.partition(":")[0].split(".")[0]
    names = _installed_packages().get(top, [])
    if len(names) == 1:
        try:
            dist = Distribution.from_name(names[0])
        except Exception:  # noqa: BLE001 - metadata unreadable: key on the source instead
            return PluginOrigin(target)
        return PluginOrigin(target, dist.metadata["Name"], dist.version, is_editable(dist))
    return PluginOrigin(target)


@cache
def _installed_packages() -> dict[str, list[str]]:
    return packages_distributions()


def is_editable(dist: Distribution) -> bool:
    """Whether pip installed ``dist`` in place (PEP 660): its version says nothing of its code."""
    try:
        text = dist.read_text("direct_url.json")
        return bool(text and json.loads(text).get("dir_info", {}).get("editable"))
    except (OSError, ValueError, AttributeError):
        return False


def module_file(module: str) -> str | None:
    """The source file of ``module``: the loaded module's, else found without importing
    it (a dotted name's parent packages are imported to search them)."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        return getattr(loaded, "__file__", None)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.has_location else None


def source_sha(path: str) -> str:
    """sha256 of a file's bytes, first 20 hex digits."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20]
