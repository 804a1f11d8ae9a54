"""Store: atomic entries and a per-key lock that makes a key computed once."""

import threading

from sine_bench.runner.store import Store, write_atomic


def test_write_dir_is_all_or_nothing(tmp_path):
    store = Store(tmp_path)
    try:
        with store.write_dir("edits", "abcd") as folder:
            (folder / "half.png").write_bytes(b"x")
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert not store.done("edits", "abcd")
    assert not any(p.name != "ab" for p in (tmp_path / "edits").iterdir())
    assert not list((tmp_path / "edits" / "ab").iterdir())
    with store.write_dir("edits", "abcd") as folder:
        (folder / "edit.png").write_bytes(b"x")
    assert store.done("edits", "abcd")


def test_write_atomic_leaves_no_temp_files(tmp_path):
    write_atomic(tmp_path / "a.json", "{}")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_lock_lets_one_of_two_workers_compute(tmp_path):
    store = Store(tmp_path)
    computed = []

    def job():
        with store.lock("edits", "k1"):
            if store.done("edits", "k1", ".json"):
                return
            computed.append(1)
            store.write_json("edits", "k1", {"v": 1})

    threads = [threading.Thread(target=job) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert computed == [1]


def test_sweep_removes_a_killed_writers_temp_dir_but_not_a_live_one(tmp_path):
    store = Store(tmp_path)
    for key in ("dead1", "live1"):
        with store.lock("edits", key):
            pass
        (tmp_path / "edits" / key[:2] / f".{key}.abc123").mkdir(parents=True)
    with store.lock("edits", "live1"):  # a writer still holds this key
        assert store.sweep("edits") == 1
    assert not (tmp_path / "edits" / "de" / ".dead1.abc123").exists()
    assert (tmp_path / "edits" / "li" / ".live1.abc123").exists()
