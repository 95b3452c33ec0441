"""Writers to one SQLite file take turns in this process on a lock, not in SQLite's busy handler.

Why: SQLite lets one connection write a file at a time. A connection that finds the file locked
does not wait in a queue: its busy handler sleeps and tries again (1, 2, 5, 10, 15, 20, 25, 25,
25, 50, 50, then 100 ms at a time, up to ``busy_timeout``). Under steady contention a writer that
has waited a while sleeps 100 ms between looks while newcomers, still on 1 ms sleeps, take the
lock first; the file also stands unlocked between a commit and the next sleeper's look. Profiled
under the full soak (one worker on SQLite, 27 webhook deliveries a second), webhook requests spent
most of their time in that handler waiting for our file's write lock, and deliveries waited
seconds for an answer. ``bench/sqlite_writers.py`` measures the same on a bare file: 20 threads
writing short transactions, with and without this lock.

How: each connection (a :class:`TurnTakingConnection`, made by ``sqlite3.connect(factory=...)``)
takes the file's process-wide lock just before its first write statement of a transaction (the
point where SQLite itself would take the file's write lock) and gives it back right after its
commit, rollback or close. Reads never take it (WAL: readers do not block the writer). A thread
that already holds the lock through another connection does not wait for itself: it goes to
SQLite as before (which would then answer "database is locked", as it always did). A wait longer
than the busy timeout also goes to SQLite as before, so this lock can delay, never deadlock.
Other processes on the same file (the CLI, a second service) still meet in SQLite's busy handler.

Measured in the full soak with the write watch (``slow_writes``): the lock was held 13 % and 28 %
of two minutes (1,853 and 3,052 writes, the longest held 0.21 s), yet writers waited 110 s and
246 s in all in those minutes, up to 2.75 s each. The file was not busy; the waiting was unfair.

Only our own engine takes turns. The workflow engine's file (DBOS, ``BEGIN IMMEDIATE`` on every
transaction) is left to SQLite: turns were tried there too (08c806c), and a soak with them stalled
for 3.5 minutes after a restart, which was never explained.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Statements that take SQLite's write lock (pysqlite opens its implicit transaction before the
#: first four; the others are DDL and explicit transactions that write).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN IMMEDIATE",
           "BEGIN EXCLUSIVE")
_TIMEOUT_SECONDS = 30.0  # as our busy_timeout: past it, SQLite decides as it did before

_locks: dict[str, FileTurn] = {}
_locks_guard = threading.Lock()


class FileTurn:
    """The write turn of one SQLite file in this process: a lock and which thread holds it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: int | None = None

    def take(self, timeout: float = _TIMEOUT_SECONDS) -> bool:
        """True when taken; False when this thread holds it already or the wait timed out."""
        if self.owner == threading.get_ident():
            return False
        if not self.lock.acquire(timeout=timeout):
            return False
        self.owner = threading.get_ident()
        return True

    def give_back(self) -> None:
        self.owner = None
        self.lock.release()


def turn_for(path: str | Path) -> FileTurn:
    """The one :class:`FileTurn` of a file in this process (the same for every engine on it)."""
    key = str(Path(path).resolve())
    with _locks_guard:
        turn = _locks.get(key)
        if turn is None:
            turn = _locks[key] = FileTurn()
        return turn


def _is_write(sql: str) -> bool:
    return sql.lstrip().upper().startswith(_WRITES)


class TurnTakingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> TurnTakingCursor:
        return self._in_turn(sql, super().execute, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> TurnTakingCursor:
        return self._in_turn(sql, super().executemany, seq_of_parameters)

    def _in_turn(self, sql: str, run: Callable[[str, Any], object], parameters: Any) -> TurnTakingCursor:
        """Run one statement, taking the file's turn first if it is a transaction's first write."""
        connection: TurnTakingConnection = self.connection  # type: ignore[assignment]
        connection._before(sql)
        try:
            run(sql, parameters)
        finally:
            connection._after()
        return self


class TurnTakingConnection(sqlite3.Connection):
    """A sqlite3 connection that writes only in its file's turn (see the module's docstring).
    Pass as ``connect_args={"factory": TurnTakingConnection}``; a connection to ``:memory:`` or
    a temporary database is left alone."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        name = str(database)
        plain = name not in ("", ":memory:") and not name.startswith("file::memory:") and "mode=memory" not in name
        self._turn: FileTurn | None = turn_for(name.removeprefix("file:").split("?", 1)[0]) if plain else None
        self._holding = False

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or TurnTakingCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_back()

    @property
    def holds_turn(self) -> bool:
        return self._holding

    def _before(self, sql: str) -> None:
        if self._turn is not None and not self._holding and _is_write(sql):
            self._holding = self._turn.take()

    def _after(self) -> None:
        # A write outside a transaction (autocommit, DDL) or one whose transaction ended with it.
        if self._holding and not self.in_transaction:
            self._give_back()

    def _give_back(self) -> None:
        if self._holding:
            self._holding = False
            assert self._turn is not None
            self._turn.give_back()


__all__ = ["FileTurn", "TurnTakingConnection", "TurnTakingCursor", "turn_for"]
