"""kill -9 in the middle of a workflow: the work resumes without redoing finished steps.

SQLite: the restarted worker (same executor id) recovers its own work at start-up.
PostgreSQL: a second worker with another executor id picks up the dead worker's work through
the stale-executor sweeper.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ON_POSTGRES

WORKER = Path(__file__).with_name("crash_worker.py")


def spawn(db_url: str, executor: str, log: Path, mode: str) -> subprocess.Popen:
    """Start a worker. Its stderr goes to a file next to the step log, never to a pipe nobody
    reads: a worker serving schedules logs every failed poll of the (absent) remote systems, and
    once a pipe's 64 KiB buffer is full the worker blocks on its next log line and never exits."""
    root = Path(__file__).parents[2]  # src first: the code under test, not whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(root / "src"), str(root)))}
    errors = open(log.with_name(f"{executor}-{mode}.stderr"), "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, str(WORKER), db_url, executor, str(log), mode], env=env,
                            stdout=subprocess.DEVNULL, stderr=errors)


def stderr_tail(log: Path, executor: str, mode: str) -> str:
    path = log.with_name(f"{executor}-{mode}.stderr")
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def wait_for(log: Path, text: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged in {timeout}s; log: {log.read_text() if log.exists() else ''}")


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen]]:
    """Every worker a test spawns is killed at the end, so a failed test leaves none behind."""
    spawned: list[subprocess.Popen] = []
    yield spawned
    for process in spawned:
        if process.poll() is None:
            process.kill()
            process.wait()


def step_starts(log: Path) -> Counter:
    return Counter(line.split()[0] for line in log.read_text().splitlines())


@pytest.mark.slow
def test_restart_after_kill_resumes_without_redoing_steps(migrated_db_url, tmp_path, workers):
    log = tmp_path / "steps.log"
    first = spawn(migrated_db_url, "worker-a", log, "start")
    workers.append(first)
    wait_for(log, "step2-start")
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = spawn(migrated_db_url, "worker-a", log, "serve")
    workers.append(second)
    wait_for(log, "step3-done")
    assert second.wait(timeout=60) == 0, stderr_tail(log, "worker-a", "serve")
    counts = step_starts(log)
    assert counts["step1-start"] == 1 and counts["step1-done"] == 1
    assert counts["step2-start"] == 2 and counts["step2-done"] == 1
    assert counts["step3-start"] == 1 and counts["step3-done"] == 1


@pytest.mark.slow
@pytest.mark.skipif(not ON_POSTGRES, reason="several workers on one database is the PostgreSQL tier")
def test_another_worker_takes_over_a_dead_workers_work(migrated_db_url, tmp_path, workers):
    log = tmp_path / "steps.log"
    survivor = spawn(migrated_db_url, "worker-1", log, "serve")
    doomed = spawn(migrated_db_url, "worker-2", log, "start")
    workers.extend([survivor, doomed])
    wait_for(log, "step2-start worker-2")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    wait_for(log, "step3-done", timeout=90)
    assert survivor.wait(timeout=60) == 0, stderr_tail(log, "worker-1", "serve")
    lines = log.read_text().splitlines()
    assert any(line.startswith("step2-done worker-1") for line in lines)
    counts = step_starts(log)
    assert counts["step1-start"] == 1
    assert counts["step3-done"] == 1
