"""Environment failures are recognised however a library reports them."""

import errno
import shutil

import pytest

from sine_bench.errors import environment_errno, environment_message


def _raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as err:
            raise outer from err
    except Exception as err:
        return err


@pytest.mark.parametrize(
    "err,code",
    [
        (OSError(errno.ENOSPC, "No space left on device", "/x/a.png"), errno.ENOSPC),
        (PermissionError(errno.EACCES, "Permission denied"), errno.EACCES),
        (OSError(errno.EROFS, "Read-only file system"), errno.EROFS),
        # safetensors' Rust writer
        (RuntimeError("Error while serializing: I/O error: File too large (os error 27)"), 27),
        # shutil.copytree collects its errors in a list
        (shutil.Error([("a", "b", "[Errno 28] No space left on device: 'b'")]), errno.ENOSPC),
        (_raised_from(ValueError("save failed"), OSError(errno.EDQUOT, "quota")), errno.EDQUOT),
    ],
)
def test_environment_failures_are_recognised(err, code):
    assert environment_errno(err) == code
    message = environment_message(err)
    assert message and "\n" not in message and "rerun" in message


@pytest.mark.parametrize(
    "err",
    [
        ValueError("grid.v: bad"),
        FileNotFoundError(errno.ENOENT, "No such file or directory", "x"),
        RuntimeError("Error while deserializing header: (os error 2)"),
    ],
)
def test_other_failures_are_not(err):
    assert environment_errno(err) is None and environment_message(err) is None


# Errors outside the two bases, each with the reason it needs none.
INTERNAL = {
    "sine_bench.errors.Interrupted": "a signal: exit 128 + N, not an error of input or machine",
    "sine_bench.protocol.strict_yaml._AliasBomb": "never leaves strict_yaml: a ProtocolError there",
}


def _package_exceptions() -> dict[str, type]:
    """Every exception class defined in a module of sine_bench (optional extras that are
    not installed are skipped: their modules cannot define anything here)."""
    import importlib
    import inspect
    import pkgutil

    import sine_bench

    found = {}
    for info in pkgutil.walk_packages(sine_bench.__path__, "sine_bench."):
        if info.name.endswith(".__main__"):  # runs a command when imported
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError as err:  # e.g. ray, an optional extra
            if (err.name or "").split(".")[0] == "sine_bench":
                raise
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_error_derives_from_exactly_one_base():
    from sine_bench.errors import EnvironmentFailure, InputError

    classes = _package_exceptions()
    assert len(classes) >= 20, sorted(classes)  # the walk found the package's errors
    wrong = {}
    for name, cls in classes.items():
        if cls in (InputError, EnvironmentFailure) or name in INTERNAL:
            continue
        bases = [b.__name__ for b in (InputError, EnvironmentFailure) if issubclass(cls, b)]
        if len(bases) != 1:
            wrong[name] = bases
    assert not wrong, f"each error needs exactly one of InputError, EnvironmentFailure: {wrong}"
    assert set(INTERNAL) <= set(classes), "an INTERNAL entry names a class that is gone"


def test_the_cli_maps_the_two_bases():
    import typer

    from sine_bench.cli.contract import error_contract
    from sine_bench.errors import EnvironmentFailure, InputError

    for raised, code in ((InputError("x: bad (fix it)"), 2), (EnvironmentFailure("disk"), 1)):
        with pytest.raises(typer.Exit) as exited, error_contract():
            raise type("Custom", (type(raised),), {})(str(raised))
        assert exited.value.exit_code == code
