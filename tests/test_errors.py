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
