"""A second ``marketbridge run`` on the same SQLite database is refused, in one line naming the
first one's pid; the lock goes with the first process, SIGKILL included (as the soak kills it), so a
restart straight after starts normally. On PostgreSQL two workers still run side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from marketbridge.sandbox.server import free_port
from tests.conftest import ON_POSTGRES, TEST_SESSION_SECRET
from tests.e2e.test_orders_e2e import ROOT, start_service, stop, wait_until


def _healthy(port: int) -> bool:
    try:
        return httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx2.HTTPError:
        return False


def _start(db_url: str, boxes: Any, log: Path, name: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = start_service(db_url, boxes, log, MARKETBRIDGE_WEB_PORT=str(port), MARKETBRIDGE_EXECUTOR_ID=name)
    return process, port


def _second_run(db_url: str, boxes: Any, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MARKETBRIDGE_DATABASE_URL": db_url,
           "MARKETBRIDGE_MAGENTO_BASE_URL": boxes.magento_url, "MARKETBRIDGE_MIRAKL_BASE_URL": boxes.mirakl_url,
           "MARKETBRIDGE_WEB_PORT": str(free_port()), "MARKETBRIDGE_EXECUTOR_ID": "second",
           "MARKETBRIDGE_SESSION_SECRET": TEST_SESSION_SECRET}
    return subprocess.run([sys.executable, "-c", "from marketbridge.cli import main; main()", "run"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))


@pytest.mark.slow
@pytest.mark.skipif(ON_POSTGRES, reason="the lock is for SQLite; PostgreSQL allows several workers")
def test_second_run_on_one_sqlite_database_is_refused_and_a_kill_releases_the_lock(
        migrated_db_url: str, sandboxes: Any, tmp_path: Path) -> None:
    first, port = _start(migrated_db_url, sandboxes, tmp_path / "first.log", "first")
    try:
        wait_until(lambda: _healthy(port), 90, "the first run to answer", tmp_path / "first.log")

        second = _second_run(migrated_db_url, sandboxes, tmp_path)
        assert second.returncode != 0
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, second.stderr
        assert f"Another marketbridge run (pid {first.pid}) holds this SQLite database" in lines[0]
        assert "PostgreSQL" in lines[0]
        assert _healthy(port)  # the refused one did not disturb the first

        first.send_signal(signal.SIGKILL)  # as the soak does: no clean-up code runs
        first.wait()
        restarted, port = _start(migrated_db_url, sandboxes, tmp_path / "restarted.log", "restarted")
        try:
            wait_until(lambda: _healthy(port), 90, "the restart after kill -9 to answer", tmp_path / "restarted.log")
            third = _second_run(migrated_db_url, sandboxes, tmp_path)
            assert third.returncode != 0 and f"(pid {restarted.pid})" in third.stderr
        finally:
            stop(restarted)
    finally:
        stop(first)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (MARKETBRIDGE_DATABASE_URL)")
def test_two_runs_on_postgresql_both_serve(migrated_db_url: str, sandboxes: Any, tmp_path: Path) -> None:
    first, first_port = _start(migrated_db_url, sandboxes, tmp_path / "a.log", "worker-a")
    second, second_port = _start(migrated_db_url, sandboxes, tmp_path / "b.log", "worker-b")
    try:
        wait_until(lambda: _healthy(first_port), 90, "worker a to answer", tmp_path / "a.log")
        wait_until(lambda: _healthy(second_port), 90, "worker b to answer", tmp_path / "b.log")
        time.sleep(3)  # both keep running with their schedules
        assert first.poll() is None and second.poll() is None
    finally:
        stop(first)
        stop(second)
