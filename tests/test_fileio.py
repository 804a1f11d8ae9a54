"""Temp entries and atomic writes honour the umask (mkdtemp/mkstemp do not)."""

import os

import pytest

from sine_bench.fileio import (
    apply_umask_modes,
    current_umask,
    make_temp_dir,
    make_temp_file,
    write_atomic,
)


@pytest.fixture
def umask_002():
    before = os.umask(0o002)
    yield
    os.umask(before)


def test_current_umask_reads_without_changing(umask_002):
    assert current_umask() == 0o002 and current_umask() == 0o002


def test_temp_entries_and_atomic_writes_get_umask_modes(tmp_path, umask_002):
    folder = make_temp_dir(tmp_path, prefix=".x-")
    fd, path = make_temp_file(tmp_path, prefix=".y-")
    os.close(fd)
    write_atomic(tmp_path / "z.json", "{}")
    assert folder.stat().st_mode & 0o777 == 0o775
    assert path.stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "z.json").stat().st_mode & 0o777 == 0o664


def test_apply_umask_modes_fixes_what_other_writers_made_private(tmp_path, umask_002):
    (tmp_path / "a" / "b").mkdir(parents=True)
    private = tmp_path / "a" / "b" / "weights.safetensors"
    private.write_bytes(b"x")
    private.chmod(0o600)
    (tmp_path / "a").chmod(0o700)
    apply_umask_modes(tmp_path / "a")
    assert private.stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o775


def test_a_setgid_folder_passes_its_bit_on(tmp_path, umask_002):
    """A group-shared store: chgrp team store && chmod g+ws store."""
    import stat

    tmp_path.chmod(0o2775)
    folder = make_temp_dir(tmp_path, prefix=".x-")
    assert folder.stat().st_mode & stat.S_ISGID
    apply_umask_modes(folder)
    assert folder.stat().st_mode & 0o7777 == 0o2775
