"""Digests of store entries on synthetic entries: what each check catches, and that a
checked entry is hashed once per process."""

from __future__ import annotations

import json
import struct

from sine_bench.runner import integrity
from sine_bench.runner.integrity import DIGEST_FILE, check
from sine_bench.runner.store import Store


def _edit(store: Store, key: str, pixels: bytes = b"png-bytes") -> None:
    with store.write_dir("edits", key) as folder:
        (folder / "edit.png").write_bytes(pixels)
        (folder / "edit.json").write_text("{}")


def test_a_written_entry_checks_ok_and_records_its_key(tmp_path):
    store = Store(tmp_path)
    _edit(store, "aa11")
    record = json.loads((store.path("edits", "aa11") / DIGEST_FILE).read_text())
    assert record["key"] == "aa11" and set(record["files"]) == {"edit.png", "edit.json"}
    assert check(store.path("edits", "aa11"), "edits", "aa11").state == "ok"


def test_a_score_edited_to_another_value_is_damaged(tmp_path):
    """A score JSON edited to 99.5 was reported as the result."""
    store = Store(tmp_path, report=lambda _: None)
    store.write_json("scores", "bb22", {"label": "psnr", "value": 20.0})
    path = store.path("scores", "bb22", ".json")
    path.write_text(json.dumps(json.loads(path.read_text()) | {"value": 99.5}))
    assert check(path, "scores", "bb22").problem == (
        "its content differs from the one recorded at write"
    )
    assert store.read_json("scores", "bb22") is None  # set aside: the caller recomputes
    assert not path.exists() and list((tmp_path / "quarantine" / "scores").iterdir())


def test_an_empty_or_malformed_score_is_damaged_not_a_traceback(tmp_path):
    for content in (b"", b"{not json", b"[1, 2]"):
        path = tmp_path / "s.json"
        path.write_bytes(content)
        verdict = check(path, "scores", "k")
        assert verdict.state == "damaged" and "'label' and 'value'" in verdict.problem


def test_an_entry_under_another_key_is_damaged(tmp_path):
    store = Store(tmp_path)
    _edit(store, "cc33")
    moved = store.path("edits", "dd44")
    moved.parent.mkdir(parents=True)
    store.path("edits", "cc33").rename(moved)
    assert "holds the entry of key cc33" in check(moved, "edits", "dd44").problem


def test_extra_and_missing_files_are_damage(tmp_path):
    store = Store(tmp_path)
    _edit(store, "ee55")
    folder = store.path("edits", "ee55")
    (folder / "extra.txt").write_text("x")
    assert "extra.txt was not written with it" in check(folder, "edits", "ee55").problem
    (folder / "extra.txt").unlink()
    (folder / "edit.png").unlink()
    assert check(folder, "edits", "ee55").problem == "edit.png is missing"


def test_a_check_is_cached_per_process_until_a_file_changes(tmp_path, monkeypatch):
    store = Store(tmp_path)
    _edit(store, "ff66")
    hashed = []
    real = integrity.file_sha256
    monkeypatch.setattr(integrity, "file_sha256", lambda p: hashed.append(p) or real(p))
    folder = store.path("edits", "ff66")
    for _ in range(3):
        assert check(folder, "edits", "ff66").state == "ok"
    assert len(hashed) == 2  # its two files, once
    (folder / "edit.png").write_bytes(b"other-bytes")  # same size, new mtime
    assert check(folder, "edits", "ff66").state == "damaged"


def test_a_legacy_entry_is_checked_for_structure(tmp_path):
    """Entries written before digests: a truncated safetensors file or a PNG that does
    not decode is damage; a sound one is 'legacy' until its digest is recorded."""
    folder = tmp_path / "finetunes" / "ab" / "abcd"
    folder.mkdir(parents=True)
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    weights = struct.pack("<Q", len(header)) + header + bytes(16)
    (folder / "model.safetensors").write_bytes(weights)
    assert check(folder, "finetunes", "abcd").state == "legacy"
    (folder / "model.safetensors").write_bytes(weights[:-5])
    assert (
        check(folder, "finetunes", "abcd").problem == "model.safetensors is truncated or extended"
    )
    edit = tmp_path / "edits" / "ab" / "abce"
    edit.mkdir(parents=True)
    (edit / "edit.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (edit / "edit.json").write_text("{}")
    assert check(edit, "edits", "abce").problem == "edit.png does not decode"
