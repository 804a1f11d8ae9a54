"""File digests remembered across runs: a file is hashed once per version, a racy or
changed one again, and a cache that cannot be read or written is ignored."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from sine_bench import file_digests
from sine_bench.file_digests import file_sha256s


@pytest.fixture
def hashed(tmp_path, monkeypatch) -> list[str]:
    """A fresh process's view (nothing remembered) with its user cache in tmp_path;
    the paths it reads to hash, in order."""
    monkeypatch.setenv("SINE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(file_digests, "_KNOWN", {})
    monkeypatch.setattr(file_digests, "_loaded_from", None)
    calls: list[str] = []
    real = file_digests.file_sha256
    monkeypatch.setattr(file_digests, "file_sha256", lambda p: calls.append(str(p)) or real(p))
    return calls


def _aged(path, data: bytes, seconds_ago: float = 60.0):
    """``path`` holding ``data`` with its mtime ``seconds_ago`` (its ctime is now: the
    tests that remember it set RACY_SECONDS to 0)."""
    path.write_bytes(data)
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))
    return path


def _new_process(monkeypatch):
    monkeypatch.setattr(file_digests, "_KNOWN", {})
    monkeypatch.setattr(file_digests, "_loaded_from", None)


def test_a_settled_file_is_hashed_once_across_processes(tmp_path, monkeypatch, hashed):
    monkeypatch.setattr(file_digests, "RACY_SECONDS", 0.0)
    weights = _aged(tmp_path / "w.bin", b"weights" * 1000)
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert file_sha256s([weights]) == {weights: expected}
    _new_process(monkeypatch)  # another run: the user cache remembers it
    assert file_sha256s([weights]) == {weights: expected}
    assert hashed == [str(weights)]
    assert (tmp_path / "cache" / "file-digests.json").is_file()


def test_a_rewritten_file_is_hashed_again_even_at_the_same_size_and_mtime(
    tmp_path, monkeypatch, hashed
):
    monkeypatch.setattr(file_digests, "RACY_SECONDS", 0.0)
    weights = _aged(tmp_path / "w.bin", b"a" * 4096)
    stat = weights.stat()
    first = file_sha256s([weights])[weights]
    weights.write_bytes(b"b" * 4096)  # same size; the mtime set back as a copy tool would
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = file_sha256s([weights])[weights]
    assert second == hashlib.sha256(b"b" * 4096).hexdigest() != first
    assert len(hashed) == 2  # the ctime moved: the signature differs


def test_a_file_changed_just_now_is_not_remembered(tmp_path, hashed):
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"fresh")  # within RACY_SECONDS of now
    file_sha256s([weights])
    file_sha256s([weights])
    assert len(hashed) == 2 and not (tmp_path / "cache" / "file-digests.json").exists()


def test_an_unusable_cache_is_ignored(tmp_path, monkeypatch, hashed):
    monkeypatch.setattr(file_digests, "RACY_SECONDS", 0.0)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "file-digests.json").write_text("{not json")
    weights = _aged(tmp_path / "w.bin", b"x")
    assert file_sha256s([weights])[weights] == hashlib.sha256(b"x").hexdigest()
    monkeypatch.setenv("SINE_BENCH_CACHE", str(weights / "not-a-folder"))  # cannot be written
    _new_process(monkeypatch)
    assert file_sha256s([weights])[weights] == hashlib.sha256(b"x").hexdigest()
