"""A watchdog on long write transactions: who held the database's write lock, for how long, and
what it was doing.

Why: SQLite has one write lock per file. A unit of work that writes and then waits on something
slow (an HTTP call, a retry's sleep, another lock) keeps every other writer out for as long: stock
webhooks queue behind it, and an offer stays above what Adobe Commerce holds. On PostgreSQL the
same transaction holds row locks and a pooled connection. The cause is always one place in our
code, and this says which.

How: once a connection's first writing statement in a transaction (``INSERT``, ``UPDATE``,
``DELETE``, ``REPLACE``) has run, the transaction holds the write (SQLite takes its lock then); it
notes the time, the thread and our frames of the stack. If that first statement itself waited
longer than ``threshold`` for the lock, that is logged as ``database write waited``. A thread
looks every second; a transaction that has held its write for longer than ``threshold`` is logged
once while it is still open (``database write held``), with the stack of the holding thread *now*,
which shows what it waits on. At commit or rollback a write held longer than the threshold is
logged again with its full length (``database write released``). The log names code locations
only, never parameters or rows (they may hold personal data or secrets).

Cost: one clock read per statement and one short stack walk per writing transaction.
``MARKETBRIDGE_SLOW_WRITE_SECONDS=0`` turns it off.
"""

from __future__ import annotations

import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from sqlalchemy import Engine, event

log = structlog.get_logger(__name__)

WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
STACK_DEPTH = 8
#: Frames from the standard library and installed packages (SQLAlchemy, DBOS, uvicorn) say nothing
#: about the cause; ours (and a test's) do.
_LIBRARY_DIRS = tuple(sorted({str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")
                              if (p := sysconfig.get_paths().get(key))}))
_THIS_FILE = str(Path(__file__).resolve())


def is_write(statement: str) -> bool:
    return statement.lstrip()[:7].upper().startswith(WRITE_VERBS)


def _ours(filename: str) -> bool:
    path = str(Path(filename).resolve()) if not filename.startswith("<") else ""
    return bool(path) and path != _THIS_FILE and not path.startswith(_LIBRARY_DIRS)


def _where(frame: traceback.FrameSummary) -> str:
    path = frame.filename.replace("\\", "/")
    short = path.split("/marketbridge/", 1)[1] if "/marketbridge/" in path else "/".join(path.split("/")[-2:])
    return f"{short}:{frame.lineno} {frame.name}"


def our_frames(frames: traceback.StackSummary | list[traceback.FrameSummary], depth: int = STACK_DEPTH) -> list[str]:
    """``module.py:line function`` for our innermost ``depth`` frames, innermost first."""
    return [_where(f) for f in [f for f in frames if _ours(f.filename)][-depth:][::-1]]


@dataclass
class HeldWrite:
    thread_id: int
    started: float
    began_at: list[str]
    reported: bool = False


@dataclass
class SlowWriteWatch:
    """The open writing transactions of one engine, by DBAPI connection id."""

    threshold: float
    clock: Callable[[], float] = time.monotonic
    held: dict[int, HeldWrite] = field(default_factory=dict)
    waiting: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # ------------------------------------------------------------------ engine events
    def on_statement(self, conn_key: int, statement: str) -> None:
        """Before a statement: a transaction's first write may have to wait for the lock first."""
        if conn_key in self.held or conn_key in self.waiting or not is_write(statement):
            return
        with self._lock:
            self.waiting[conn_key] = self.clock()

    def on_statement_done(self, conn_key: int) -> None:
        """After a statement: once the first write has run, the transaction holds the write."""
        with self._lock:
            asked = self.waiting.pop(conn_key, None)
        if asked is None:
            return
        now = self.clock()
        began_at = our_frames(traceback.extract_stack())
        with self._lock:
            self.held[conn_key] = HeldWrite(threading.get_ident(), now, began_at)
        if now - asked >= self.threshold:
            log.warning("database write waited", seconds=round(now - asked, 2), began_at=began_at)

    def on_end(self, conn_key: int, how: str) -> float | None:
        """The transaction on ``conn_key`` ended; returns how long it held its write, if it wrote."""
        with self._lock:
            self.waiting.pop(conn_key, None)
            write = self.held.pop(conn_key, None)
        if write is None:
            return None
        seconds = self.clock() - write.started
        if seconds >= self.threshold:
            log.warning("database write released", seconds=round(seconds, 2), ended_by=how,
                        began_at=write.began_at)
        return seconds

    # ------------------------------------------------------------------ the looking thread
    def look(self) -> list[HeldWrite]:
        """Log each write held past the threshold once, with what its thread is doing now."""
        now = self.clock()
        with self._lock:
            due = [w for w in self.held.values() if not w.reported and now - w.started >= self.threshold]
            for write in due:
                write.reported = True
        frames = sys._current_frames() if due else {}
        for write in due:
            frame = frames.get(write.thread_id)
            doing = our_frames(traceback.extract_stack(frame)) if frame is not None else []
            log.warning("database write held", seconds=round(now - write.started, 2), began_at=write.began_at,
                        doing_now=doing)
        return due

    def start(self, every: float = 1.0) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.look()
                except Exception:  # the watchdog never takes the process down
                    log.exception("slow write watch failed")

        self._thread = threading.Thread(target=loop, name="slow-write-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def watch(engine: Engine, threshold: float) -> SlowWriteWatch | None:
    """Attach a watch to ``engine`` (None when ``threshold`` is 0: off)."""
    if threshold <= 0:
        return None
    slow = SlowWriteWatch(threshold=threshold)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        slow.on_statement(id(conn.connection.dbapi_connection), statement)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, _cursor, _statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        slow.on_statement_done(id(conn.connection.dbapi_connection))

    @event.listens_for(engine, "commit")
    def _commit(conn):  # type: ignore[no-untyped-def]
        slow.on_end(id(conn.connection.dbapi_connection), "commit")

    @event.listens_for(engine, "rollback")
    def _rollback(conn):  # type: ignore[no-untyped-def]
        slow.on_end(id(conn.connection.dbapi_connection), "rollback")

    # A connection handed back without either (the pool's reset rolls it back below SQLAlchemy's
    # connection events) ends its transaction too.
    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        slow.on_end(id(dbapi_connection), "returned")

    slow.start()
    return slow


__all__ = ["HeldWrite", "SlowWriteWatch", "is_write", "our_frames", "watch"]
