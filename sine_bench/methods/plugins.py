"""A plug-in method as the runner sees it: a ``Method`` subclass as it is, a black-box
editor (a plain class with ``edit`` and ``knobs``) behind ``blackbox.BlackBoxMethod``.

Either way the protocol's name is the method's name, and its code's identity
(``plugins.PluginOrigin.identity``) goes into every key of its jobs. A target that is
neither is one MethodError naming the plug-in, found while the protocol is checked.
An editor that ships (``diffusers-pipeline``) is adapted the same way, keyed on its
``version`` alone, as shipped methods are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import EnvironmentFailure, InputError, JobFailure
from ..protocol.fields import MethodError
from ..protocol.method_checks import METHODS
from .base import Method
from .blackbox import BlackBoxMethod, check_editor

HOOKS = ("plan_cell", "count", "run_unit")  # what every Method subclass must implement


class PluginFailed(JobFailure):
    """A plug-in method's code raised while its job ran: that job failed, no other."""


@contextmanager
def plugin_code(method: Method, what: str) -> Iterator[None]:
    """Run a plug-in method's hook: an exception from its code fails the job with one
    line naming it (our own error types pass as they are; what ships is not wrapped)."""
    origin = METHODS.origin(method.name)
    if origin is None:
        yield
        return
    try:
        yield
    except (InputError, EnvironmentFailure):
        raise
    except Exception as err:  # noqa: BLE001 - a plug-in's code may raise anything
        why = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        raise PluginFailed(
            f"method {method.name!r} (plug-in {origin.where()}) raised in {what}: {why}"
        ) from err


def plugin_method(name: str, target: Any) -> Method:
    """The method registered as ``name`` (loaded ``target``), checked: a shipped Method
    subclass instantiated as it is, a plug-in's under the protocol's name with its code
    identity, a black-box editor (shipped or not) adapted."""
    origin = METHODS.origin(name)
    is_method = isinstance(target, type) and issubclass(target, Method)
    if origin is None and is_method:
        return target()  # what ships: exactly as before (its keys never move)
    if origin is not None and is_method:
        missing = [h for h in HOOKS if getattr(target, h) is getattr(Method, h)]
        if missing:
            raise MethodError(
                f"method {name!r} (plug-in {origin.where()}): {target.__name__} does not "
                f"implement {', '.join(missing)} (see docs/method.md)"
            )
        try:
            method = target()
        except Exception as err:  # noqa: BLE001 - a plug-in's constructor may raise anything
            raise MethodError(
                f"method {name!r} (plug-in {origin.where()}): {target.__name__}() raised "
                f"{type(err).__name__}: {err}".splitlines()[0]
            ) from None
        method.name = name  # type: ignore[misc]  # the protocol's name everywhere
        method.plugin = origin.identity()
        return method
    check_editor(name, origin, target)
    return BlackBoxMethod(name, target, origin)
