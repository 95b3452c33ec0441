"""One ``marketbridge run`` per SQLite database: an exclusive OS file lock beside the database file.

Why: SQLite is one writer in one process. Two ``marketbridge run`` on the same file both start
their schedules and workflow recovery and step on each other (in a test, three of eight paid orders
were not in Adobe Commerce 90 s after payment). PostgreSQL is how to scale out, so only SQLite
databases are locked; several workers on PostgreSQL stay allowed.

How: ``<database file>.run.lock`` is opened (never truncated before the lock is ours) and locked
with ``flock(LOCK_EX | LOCK_NB)`` for the life of the process. The kernel releases a ``flock`` when
the process ends in any way, SIGKILL included, so a killed worker never leaves a stale lock and a
restart right after ``kill -9`` starts normally. The holder writes its pid into the file, so the
refusal can name it. The descriptor is not inherited by child processes (``os.open`` default).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from marketbridge.adapters.db.engine_store import sqlite_file

if sys.platform != "win32":  # every platform marketbridge runs on has it; Windows keeps the refusal
    import fcntl
else:  # pragma: no cover - Windows
    fcntl = None


class RunLockHeld(RuntimeError):
    """Another process runs marketbridge on this SQLite database."""


@dataclass
class RunLock:
    path: Path
    _fd: int | None = None
    _fallback: object | None = None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.release()  # type: ignore[attr-defined]
            self._fallback = None


def lock_path_for(database_url: str) -> Path | None:
    """``<database file>.run.lock`` for a SQLite file URL; None for PostgreSQL or in-memory SQLite."""
    database = sqlite_file(database_url)
    if database is None:
        return None
    return database.resolve().with_name(database.name + ".run.lock")


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


def _refusal(path: Path, database: Path) -> RunLockHeld:
    pid = _holder(path)
    who = f" (pid {pid})" if pid else ""
    return RunLockHeld(
        f"Another marketbridge run{who} holds this SQLite database ({database}); SQLite is one process: "
        "stop the other one, or use PostgreSQL (MARKETBRIDGE_DATABASE_URL=postgresql://...) to run several "
        f"workers. Lock file: {path}")


def acquire_run_lock(database_url: str) -> RunLock | None:
    """Take the run lock of a SQLite database for this process's life; None when no lock applies.

    Raises :class:`RunLockHeld` (its message is the one line to show) when another live process
    holds it.
    """
    path = lock_path_for(database_url)
    if path is None:
        return None
    database = path.with_name(path.name.removesuffix(".run.lock"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        from filelock import FileLock, Timeout

        fallback = FileLock(str(path), timeout=0)
        try:
            fallback.acquire()
        except Timeout:
            raise _refusal(path, database) from None
        return RunLock(path, None, fallback)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _refusal(path, database) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    return RunLock(path, fd)


__all__ = ["RunLock", "RunLockHeld", "acquire_run_lock", "lock_path_for"]
