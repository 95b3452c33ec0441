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

Every minute in which a writer waited past the threshold also gets one summary line (``database
writes queued``: writes, the share of the minute the lock was held, the longest wait), and every
wait and hold goes to two histograms on ``/metrics`` (``marketbridge_db_write_wait_seconds``,
``marketbridge_db_write_hold_seconds``).

Cost: one clock read per statement and one short frame walk per writing transaction.
``MARKETBRIDGE_SLOW_WRITE_SECONDS=0`` turns it off.
"""

from __future__ import annotations

import functools
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import structlog
from sqlalchemy import Engine, event

from marketbridge.adapters import metrics

log = structlog.get_logger(__name__)

WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
STACK_DEPTH = 8
SUMMARY_SECONDS = 60.0
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


@functools.lru_cache(maxsize=4096)
def _short(filename: str) -> str | None:
    """``services/x.py`` for one of our files, ``tests/test_x.py`` for a test's; None for a library's."""
    if not _ours(filename):
        return None
    path = filename.replace("\\", "/")
    return path.split("/marketbridge/", 1)[1] if "/marketbridge/" in path else "/".join(path.split("/")[-2:])


def our_frames(frame: FrameType | None, depth: int = STACK_DEPTH) -> list[str]:
    """``module.py:line function`` for our innermost ``depth`` frames from ``frame`` outwards.

    A plain walk of ``f_back`` with the file test cached: it runs once per writing transaction, so
    it must cost microseconds (``traceback.extract_stack`` reads source lines: it took a tenth of
    the worker's interpreter time under the soak)."""
    found: list[str] = []
    while frame is not None and len(found) < depth:
        code = frame.f_code
        short = _short(code.co_filename)
        if short is not None:
            found.append(f"{short}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return found


@dataclass
class HeldWrite:
    thread_id: int
    started: float
    began_at: list[str]
    reported: bool = False


@dataclass
class WriteTally:
    """The writes of one summary period: how busy the write lock was, and how long writers waited."""

    holds: int = 0
    held_seconds: float = 0.0
    longest_hold: float = 0.0
    waited_seconds: float = 0.0
    waits_over: int = 0
    longest_wait: float = 0.0

    def summary(self, period: float) -> dict[str, float | int]:
        return {"writes": self.holds, "lock_busy_share": round(self.held_seconds / period, 2) if period > 0 else 0.0,
                "longest_hold_s": round(self.longest_hold, 2), "waited_s": round(self.waited_seconds, 1),
                "waits_over_threshold": self.waits_over, "longest_wait_s": round(self.longest_wait, 2)}


@dataclass
class SlowWriteWatch:
    """The open writing transactions of one engine, by DBAPI connection id."""

    threshold: float
    clock: Callable[[], float] = time.monotonic
    held: dict[int, HeldWrite] = field(default_factory=dict)
    waiting: dict[int, float] = field(default_factory=dict)
    tally: WriteTally = field(default_factory=WriteTally)
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
        began_at = our_frames(sys._getframe(1))
        waited = now - asked
        metrics.DB_WRITE_WAIT.observe(waited)
        with self._lock:
            self.held[conn_key] = HeldWrite(threading.get_ident(), now, began_at)
            self.tally.waited_seconds += waited
            self.tally.longest_wait = max(self.tally.longest_wait, waited)
            self.tally.waits_over += waited >= self.threshold
        if waited >= self.threshold:
            log.warning("database write waited", seconds=round(now - asked, 2), began_at=began_at)

    def on_statement_failed(self, conn_key: int, error: BaseException) -> float | None:
        """A statement failed. If it was a first write still waiting for the lock (SQLite gives
        up with "database is locked" after its busy timeout), that wait is counted and, past the
        threshold, logged: it is the longest kind, and without this it left no trace. Returns the
        wait in seconds, or None when the statement was not waiting."""
        with self._lock:
            asked = self.waiting.pop(conn_key, None)
        if asked is None:
            return None
        waited = self.clock() - asked
        metrics.DB_WRITE_WAIT.observe(waited)
        with self._lock:
            self.tally.waited_seconds += waited
            self.tally.longest_wait = max(self.tally.longest_wait, waited)
            self.tally.waits_over += waited >= self.threshold
        if waited >= self.threshold:
            log.warning("database write gave up waiting", seconds=round(waited, 2), error=type(error).__name__,
                        began_at=our_frames(sys._getframe(1)))
        return waited

    def on_end(self, conn_key: int, how: str) -> float | None:
        """The transaction on ``conn_key`` ended; returns how long it held its write, if it wrote."""
        with self._lock:
            self.waiting.pop(conn_key, None)
            write = self.held.pop(conn_key, None)
        if write is None:
            return None
        seconds = self.clock() - write.started
        metrics.DB_WRITE_HOLD.observe(seconds)
        with self._lock:
            self.tally.holds += 1
            self.tally.held_seconds += seconds
            self.tally.longest_hold = max(self.tally.longest_hold, seconds)
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
            doing = our_frames(frame)
            log.warning("database write held", seconds=round(now - write.started, 2), began_at=write.began_at,
                        doing_now=doing)
        return due

    def summarize(self, period: float) -> WriteTally | None:
        """One line for the period just ended, only when a writer waited past the threshold in it
        (a healthy process logs nothing): how busy the lock was and how long writers queued."""
        with self._lock:
            tally, self.tally = self.tally, WriteTally()
        if tally.waits_over == 0:
            return None
        log.warning("database writes queued", period_s=round(period), **tally.summary(period))
        return tally

    def start(self, every: float = 1.0, summary_every: float = SUMMARY_SECONDS) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            last = self.clock()
            while not self._stop.wait(every):
                try:
                    self.look()
                    if self.clock() - last >= summary_every:
                        self.summarize(self.clock() - last)
                        last = self.clock()
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

    @event.listens_for(engine, "handle_error")
    def _failed(context):  # type: ignore[no-untyped-def]
        conn = context.connection
        if conn is not None and not conn.invalidated and conn.connection.dbapi_connection is not None:
            slow.on_statement_failed(id(conn.connection.dbapi_connection), context.original_exception)

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


__all__ = ["HeldWrite", "SlowWriteWatch", "WriteTally", "is_write", "our_frames", "watch"]
