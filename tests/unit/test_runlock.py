"""The SQLite run lock: which URLs it applies to, refusal naming the holder, release on close."""

from __future__ import annotations

import os

import pytest

from marketbridge.adapters.db.runlock import RunLockHeld, acquire_run_lock, lock_path_for


def test_only_sqlite_files_are_locked(tmp_path):
    assert lock_path_for("postgresql://postgres@127.0.0.1:5432/marketbridge") is None
    assert lock_path_for("sqlite://") is None and lock_path_for("sqlite:///:memory:") is None
    assert lock_path_for(f"sqlite:///{tmp_path}/mb.sqlite") == tmp_path / "mb.sqlite.run.lock"
    assert lock_path_for(f"sqlite+pysqlite:///{tmp_path}/mb.sqlite") == tmp_path / "mb.sqlite.run.lock"
    assert acquire_run_lock("postgresql://postgres@127.0.0.1:5432/marketbridge") is None


def test_a_second_holder_is_refused_with_the_first_pid_until_released(tmp_path):
    url = f"sqlite:///{tmp_path}/mb.sqlite"
    first = acquire_run_lock(url)
    assert first is not None
    try:
        with pytest.raises(RunLockHeld, match=rf"Another marketbridge run \(pid {os.getpid()}\) holds this SQLite"):
            acquire_run_lock(url)
    finally:
        first.release()
    again = acquire_run_lock(url)  # released: taken again at once
    assert again is not None
    again.release()
