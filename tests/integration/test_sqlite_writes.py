"""Writers to one SQLite file take turns on a lock in the process (adapters.db.sqlite_writes)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from marketbridge.adapters.db.session import Database
from marketbridge.adapters.db.sqlite_writes import TurnTakingConnection, turn_for


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "turns.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    return path


def _connect(path: Path, *, timeout: float = 30.0) -> TurnTakingConnection:
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, factory=TurnTakingConnection)
    assert isinstance(conn, TurnTakingConnection)
    return conn


def test_a_write_takes_the_files_turn_and_commit_or_rollback_gives_it_back(tmp_path: Path) -> None:
    path = _file(tmp_path)
    turn = turn_for(path)
    conn = _connect(path)
    conn.execute("SELECT count(*) FROM t").fetchall()
    assert not turn.lock.locked(), "a read takes no turn"
    conn.execute("INSERT INTO t (body) VALUES ('a')")
    assert conn.holds_turn and turn.lock.locked()
    conn.commit()
    assert not conn.holds_turn and not turn.lock.locked()
    conn.execute("UPDATE t SET body = 'b'")
    assert turn.lock.locked()
    conn.rollback()
    assert not turn.lock.locked()
    conn.execute("DELETE FROM t")
    conn.close()
    assert not turn.lock.locked(), "closing a connection mid-transaction gives the turn back"


def test_a_second_writer_waits_for_the_turn_instead_of_failing_on_the_locked_file(tmp_path: Path) -> None:
    """With a busy timeout of 0, SQLite answers "database is locked" at once to a second writer (a
    plain connection does). Taking turns, the second writer waits in the process for the first
    one's commit and then writes."""
    path = _file(tmp_path)
    first = _connect(path)
    first.execute("INSERT INTO t (body) VALUES ('first')")
    second = _connect(path, timeout=0)
    outcome: list[str] = []

    def write() -> None:
        try:
            second.execute("INSERT INTO t (body) VALUES ('second')")
            second.commit()
            outcome.append("written")
        except sqlite3.OperationalError as error:
            outcome.append(str(error))

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.3)
    assert outcome == [], "the second writer is still waiting for its turn"
    first.commit()
    thread.join(10)
    assert outcome == ["written"]
    rows = [body for (body,) in _connect(path).execute("SELECT body FROM t ORDER BY id")]
    assert rows == ["first", "second"]

    plain = sqlite3.connect(path, timeout=0)
    first.execute("INSERT INTO t (body) VALUES ('third')")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        plain.execute("INSERT INTO t (body) VALUES ('plain')")  # what every writer met before
    first.rollback()


def test_a_thread_that_holds_the_turn_does_not_wait_for_itself(tmp_path: Path) -> None:
    """A second connection of the same thread goes to SQLite as before (which refuses it while
    the first holds the file's lock); it must not wait on a lock its own thread holds."""
    path = _file(tmp_path)
    first = _connect(path)
    first.execute("INSERT INTO t (body) VALUES ('a')")
    second = _connect(path, timeout=0)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("INSERT INTO t (body) VALUES ('b')")
    assert time.monotonic() - started < 5
    assert not second.holds_turn
    first.commit()
    assert not turn_for(path).lock.locked()


def test_a_write_outside_a_transaction_gives_the_turn_back_at_once(tmp_path: Path) -> None:
    path = _file(tmp_path)
    conn = _connect(path)
    conn.isolation_level = None  # autocommit: no commit() will come
    conn.execute("INSERT INTO t (body) VALUES ('a')")
    assert not conn.holds_turn and not turn_for(path).lock.locked()


def test_an_in_memory_database_takes_no_turn() -> None:
    conn = sqlite3.connect(":memory:", factory=TurnTakingConnection)
    assert isinstance(conn, TurnTakingConnection)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t DEFAULT VALUES")
    assert not conn.holds_turn


def test_our_sqlite_engine_makes_turn_taking_connections(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    turn = turn_for(path)
    with db.session() as session:
        session.execute(text("INSERT INTO t DEFAULT VALUES"))
        assert isinstance(session.connection().connection.driver_connection, TurnTakingConnection)
        assert turn.lock.locked()
    assert not turn.lock.locked()
    db.dispose()
