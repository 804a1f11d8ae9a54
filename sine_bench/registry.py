"""One registry type: names to lazily loaded entries, with did-you-mean errors.

Methods, executors, dataset formats and metrics each keep one. An entry is an object or
a ``"module:attr"`` string imported on first use, so listing names (``sine-bench
methods``, validating a protocol) never imports torch or ray. Installed packages may
add entries under an entry-point group (``discover``), so a plug-in is a package, not
an edit of this one.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def suggest(name: object, options: Sequence[str]) -> str:
    """'did you mean 'x'?' for the closest option, else the options themselves."""
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known: {', '.join(options)}" if options else "none is known"


class Registry(Generic[T]):
    """Names (in registration order) to entries, each loaded once on first ``get``.

    ``kind`` names the entries in messages ("method"); an unknown name raises ``error``
    (the caller's own error type, so the CLI maps it like its other bad input);
    ``build`` turns a loaded target into the entry (e.g. a class into its instance).
    """

    def __init__(
        self,
        kind: str,
        error: type[Exception],
        entries: dict[str, T | str] | None = None,
        build: Callable[[Any], T] | None = None,
    ):
        self.kind, self.error, self.build = kind, error, build
        self._targets: dict[str, Any] = {}
        self._loaded: dict[str, T] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T | str) -> None:
        """Add or replace ``name``: an object, or ``"module:attr"`` loaded on first get."""
        self._targets[name] = entry
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        self._targets.pop(name, None)
        self._loaded.pop(name, None)

    @contextmanager
    def registered(self, name: str, entry: T | str) -> Iterator[None]:
        """``name`` registered for the block only (tests; trying a plug-in in place)."""
        before = self._targets.get(name)
        self.register(name, entry)
        try:
            yield
        finally:
            self.unregister(name)
            if before is not None:
                self.register(name, before)

    def names(self) -> list[str]:
        return list(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def check(self, name: str) -> None:
        """Raise ``error`` naming the closest known name when ``name`` is not registered."""
        if name not in self._targets:
            raise self.error(f"unknown {self.kind} {name!r} ({suggest(name, self.names())})")

    def get(self, name: str) -> T:
        """The entry ``name``, loaded (and built) on first use."""
        self.check(name)
        if name not in self._loaded:
            target = self._resolve(name, self._targets[name])
            self._loaded[name] = self.build(target) if self.build else target
        return self._loaded[name]

    def discover(self, group: str) -> list[str]:
        """Register the entry points of installed packages in ``group``; returns the
        names added. A name already registered keeps its entry: a plug-in adds, it
        never replaces what ships."""
        added = []
        for point in entry_points(group=group):
            if point.name not in self._targets:
                self.register(point.name, point)
                added.append(point.name)
        return added

    def _resolve(self, name: str, target: Any) -> Any:
        if isinstance(target, EntryPoint):
            return target.load()
        if not isinstance(target, str):
            return target
        module, _, attr = target.partition(":")
        loaded = importlib.import_module(module)
        try:
            return getattr(loaded, attr) if attr else loaded
        except AttributeError:
            raise self.error(f"{self.kind} {name!r}: {module} has no {attr!r}") from None
