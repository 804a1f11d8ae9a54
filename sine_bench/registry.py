"""One registry type: names to lazily loaded entries, with did-you-mean errors.

Methods, executors, dataset formats and metrics each keep one. An entry is an object or
a ``"module:attr"`` string imported on first use, so listing names (``sine-bench
methods``, validating a protocol) never imports torch or ray. Installed packages may
add entries under an entry-point group (``group``: discovered on first use, reading
only metadata), so a plug-in is a package, not an edit of this one. A plug-in that
fails to load is the caller's error naming it and where it comes from.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from .plugins import PluginOrigin, entry_point_origin

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
    ``build`` turns a loaded target into the entry (e.g. a class into its instance),
    given the name and the loaded target: a callable, or a ``"module:function"`` string
    imported on first use (so a lower layer's registry may be built by a higher layer's
    code without importing it); ``group``: the entry-point group installed
    plug-ins add entries under, discovered on first use of the names.
    """

    def __init__(
        self,
        kind: str,
        error: type[Exception],
        entries: dict[str, T | str] | None = None,
        build: Callable[[str, Any], T] | str | None = None,
        group: str | None = None,
    ):
        self.kind, self.error, self.build, self.group = kind, error, build, group
        self._targets: dict[str, Any] = {}
        self._loaded: dict[str, T] = {}
        self._origins: dict[str, PluginOrigin] = {}  # plug-ins only: shipped entries have none
        self.ignored: dict[str, PluginOrigin] = {}  # discovered under a name already taken
        self._discovered = group is None
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T | str, origin: PluginOrigin | None = None) -> None:
        """Add or replace ``name``: an object, or ``"module:attr"`` loaded on first get;
        ``origin`` marks a plug-in (its load errors name it, its identity is keyed)."""
        self._targets[name] = entry
        self._loaded.pop(name, None)
        self._origins.pop(name, None)
        if origin is not None:
            self._origins[name] = origin

    def unregister(self, name: str) -> None:
        self._targets.pop(name, None)
        self._loaded.pop(name, None)
        self._origins.pop(name, None)

    def origin(self, name: str) -> PluginOrigin | None:
        """Where plug-in ``name`` comes from; None for what ships."""
        self._discover_once()
        return self._origins.get(name)

    def plugins(self) -> dict[str, PluginOrigin]:
        """Every plug-in entry (discovered or registered with an origin), by name."""
        self._discover_once()
        return dict(self._origins)

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

    @contextmanager
    def rescanned(self) -> Iterator[None]:
        """Installed entry points scanned afresh for the block (a package installed since
        the first scan: tests, a notebook), beside what ships only: plug-ins registered
        before (a protocol's ``class:``) are out of the block; every entry as before after
        it."""
        saved = [dict(d) for d in (self._targets, self._loaded, self._origins, self.ignored)]
        scanned = self._discovered
        plugins = [n for n, t in self._targets.items() if isinstance(t, EntryPoint)]
        for name in plugins + [n for n in self._origins if n not in plugins]:
            self.unregister(name)
        self.ignored.clear()
        self._discovered = self.group is None
        try:
            yield
        finally:
            for current, before in zip(
                (self._targets, self._loaded, self._origins, self.ignored), saved, strict=True
            ):
                current.clear()
                current.update(before)
            self._discovered = scanned

    def names(self) -> list[str]:
        self._discover_once()
        return list(self._targets)

    def __contains__(self, name: object) -> bool:
        self._discover_once()
        return name in self._targets

    def check(self, name: str) -> None:
        """Raise ``error`` naming the closest known name when ``name`` is not registered."""
        self._discover_once()
        if name not in self._targets:
            raise self.error(f"unknown {self.kind} {name!r} ({suggest(name, self.names())})")

    def get(self, name: str) -> T:
        """The entry ``name``, loaded (and built) on first use."""
        self.check(name)
        if name not in self._loaded:
            origin = self._origins.get(name)
            target = self._resolve(name, self._targets[name], origin)
            self._loaded[name] = self._builder()(name, target) if self.build else target
        return self._loaded[name]

    def discover(self, group: str) -> list[str]:
        """Register the entry points of installed packages in ``group``; returns the
        names added. A name already registered keeps its entry: a plug-in adds, it
        never replaces what ships (the other is listed in ``ignored``)."""
        added = []
        for point in entry_points(group=group):
            if point.name in self._targets or point.name in added:
                self.ignored[point.name] = entry_point_origin(point)
                continue
            self.register(point.name, point, entry_point_origin(point))
            added.append(point.name)
        return added

    def _discover_once(self) -> None:
        if not self._discovered:
            self._discovered = True  # first: a failing scan is not retried on every call
            self.discover(str(self.group))

    def _builder(self) -> Callable[[str, Any], T]:
        if isinstance(self.build, str):
            module, _, attr = self.build.partition(":")
            self.build = getattr(importlib.import_module(module), attr)
        return self.build

    def _resolve(self, name: str, target: Any, origin: PluginOrigin | None) -> Any:
        if isinstance(target, EntryPoint):  # "module:attr [extras]": extras load nothing here
            target = f"{target.module}:{target.attr}" if target.attr else target.module
        if not isinstance(target, str):
            return target
        module, _, attr = target.partition(":")
        try:
            loaded = importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - a plug-in's import may raise anything
            if origin is None:
                raise  # a shipped entry that cannot import is a bug, not input
            why = f"{type(err).__name__}: {err}".splitlines()[0]
            raise self.error(
                f"{self.kind} {name!r} (plug-in {origin.where()}): cannot import {module} ({why})"
            ) from None
        try:
            return getattr(loaded, attr) if attr else loaded
        except AttributeError:
            where = f" (plug-in {origin.where()})" if origin else ""
            raise self.error(f"{self.kind} {name!r}{where}: {module} has no {attr!r}") from None
