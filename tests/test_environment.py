"""The environment a run records: its code version is the one it started with."""

import subprocess

from sine_bench.environment import git_commit


def _commit(repo, message):
    run = dict(cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "add", "-A"], **run)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-m", message], **run
    )
    return subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()


def test_the_commit_is_read_once_per_process_so_a_run_records_the_code_it_started_with(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "a.txt").write_text("1")
    first = _commit(tmp_path, "first")
    assert git_commit(tmp_path) == first
    (tmp_path / "a.txt").write_text("2")  # the checkout moves while the run goes on
    second = _commit(tmp_path, "second")
    assert second != first and git_commit(tmp_path) == first
