"""The slow-write watch on a real SQLite file: a unit of work that writes and then waits is named,
with where it began and what it is doing, while it still holds the write and when it lets go."""

from __future__ import annotations

import threading

from sqlalchemy import text
from structlog.testing import capture_logs

from marketbridge.adapters.db.session import Database
from marketbridge.adapters.db.slow_writes import SlowWriteWatch, is_write


def _hold_write(db: Database, entered: threading.Event, release: threading.Event) -> None:
    with db.session() as session:
        session.execute(text("INSERT INTO t (v) VALUES (1)"))
        entered.set()
        release.wait(5)


def _watched_file(tmp_path, name: str) -> tuple[Database, threading.Thread, threading.Event, threading.Event]:
    """A file with a table and a watch at 0.2 s whose looking thread is stopped (the test looks
    itself, at moments it chooses), and a holder thread, not yet started, that writes and waits."""
    db = Database(f"sqlite:///{tmp_path / name}", slow_write_seconds=0.2)
    assert db.slow_writes is not None
    db.slow_writes.stop()
    with db.session() as session:
        session.execute(text("CREATE TABLE t (v INTEGER)"))
    entered, release = threading.Event(), threading.Event()
    return db, threading.Thread(target=_hold_write, args=(db, entered, release)), entered, release


def test_a_write_held_past_the_threshold_is_logged_with_its_place_and_what_it_waits_on(tmp_path) -> None:
    db, holder, entered, release = _watched_file(tmp_path, "w.sqlite")
    assert db.slow_writes is not None
    with capture_logs() as logs:
        holder.start()
        assert entered.wait(5)
        assert db.slow_writes.look() == []  # not yet past the threshold
        threading.Event().wait(0.3)
        held = db.slow_writes.look()
        assert len(held) == 1
        assert db.slow_writes.look() == []  # reported once only
        release.set()
        holder.join(5)
    db.dispose()
    by_event = {entry["event"]: entry for entry in logs}
    now = by_event["database write held"]
    assert now["seconds"] >= 0.2
    assert now["began_at"][0].startswith("integration/test_slow_writes.py:")
    assert now["began_at"][0].endswith(" _hold_write")
    released = by_event["database write released"]
    assert released["ended_by"] == "commit"
    assert released["seconds"] >= 0.3
    # what the holding thread does now (waiting in _hold_write), not what the looking thread does
    assert now["doing_now"][0].endswith(" _hold_write")
    assert all("look" not in frame for frame in now["doing_now"])


def test_reads_and_quick_writes_are_not_logged(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.sqlite'}", slow_write_seconds=0.5)
    with capture_logs() as logs:
        with db.session() as session:
            session.execute(text("CREATE TABLE t (v INTEGER)"))
            session.execute(text("INSERT INTO t (v) VALUES (1)"))
        with db.session() as session:
            session.execute(text("SELECT v FROM t")).all()
    assert db.slow_writes is not None and db.slow_writes.held == {}
    db.dispose()
    assert [e for e in logs if e["event"].startswith("database write")] == []


def test_off_when_the_threshold_is_zero(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'o.sqlite'}", slow_write_seconds=0)
    assert db.slow_writes is None
    db.dispose()


def test_which_statements_write() -> None:
    assert is_write("  insert into t values (1)")
    assert is_write("UPDATE t SET v = 2")
    assert is_write("DELETE FROM t")
    assert not is_write("SELECT 1")
    assert not is_write("WITH x AS (SELECT 1) SELECT * FROM x")


def test_a_write_that_waits_for_the_lock_is_logged_as_a_wait_not_as_a_hold(tmp_path) -> None:
    db, holder, entered, release = _watched_file(tmp_path, "l.sqlite")
    with capture_logs() as logs:
        holder.start()
        assert entered.wait(5)
        threading.Timer(0.4, release.set).start()
        with db.session() as session:  # waits about 0.4 s for the holder's lock, then writes at once
            session.execute(text("INSERT INTO t (v) VALUES (2)"))
        holder.join(5)
    db.dispose()
    waited = [e for e in logs if e["event"] == "database write waited"]
    released = [e for e in logs if e["event"] == "database write released"]
    assert len(waited) == 1 and waited[0]["seconds"] >= 0.3
    assert waited[0]["began_at"][0].endswith(" test_a_write_that_waits_for_the_lock_is_logged_as_a_wait_not_as_a_hold")
    # only the holder held past the threshold; the waiter held its write for an instant
    assert len(released) == 1 and released[0]["began_at"][0].endswith(" _hold_write")


def test_a_period_with_queued_writers_is_summed_up_in_one_line_and_a_quiet_one_says_nothing(tmp_path) -> None:
    clock = [100.0]
    watch = SlowWriteWatch(threshold=1.0, clock=lambda: clock[0])
    watch.on_statement(1, "INSERT INTO t VALUES (1)")
    clock[0] += 2.5  # waited 2.5 s for the lock
    watch.on_statement_done(1)
    clock[0] += 0.5
    watch.on_end(1, "commit")
    watch.on_statement(2, "UPDATE t SET v = 2")
    watch.on_statement_done(2)
    clock[0] += 0.25
    watch.on_end(2, "commit")
    with capture_logs() as logs:
        tally = watch.summarize(5.0)
        assert watch.summarize(5.0) is None  # nothing queued since
    assert tally is not None and tally.holds == 2 and tally.waits_over == 1
    assert tally.summary(5.0) == {"writes": 2, "lock_busy_share": 0.15, "longest_hold_s": 0.5, "waited_s": 2.5,
                                   "waits_over_threshold": 1, "longest_wait_s": 2.5}
    assert [entry["event"] for entry in logs] == ["database writes queued"]
    assert logs[0]["lock_busy_share"] == 0.15


def test_a_first_write_that_fails_while_waiting_is_logged_as_a_wait_that_gave_up(tmp_path) -> None:
    """SQLite gives up a first write with "database is locked" after its busy timeout (30 s): the
    longest wait of all, which left no trace because no statement-done event follows a failure.
    The failure here is a missing table, with a clock that says one second went by."""
    db, _holder, _entered, _release = _watched_file(tmp_path, "f.sqlite")
    watch = db.slow_writes
    ticks = iter([100.0, 101.0])
    watch.clock = lambda: next(ticks, 101.0)
    with capture_logs() as logs:
        try:
            with db.session() as session:
                session.execute(text("INSERT INTO missing (v) VALUES (1)"))
        except Exception as error:  # noqa: BLE001 - the failure is the point
            failed = error
    db.dispose()
    assert "missing" in str(failed)
    gave_up = [e for e in logs if e["event"] == "database write gave up waiting"]
    assert len(gave_up) == 1 and gave_up[0]["seconds"] == 1.0 and gave_up[0]["error"] == "OperationalError"
    assert not watch.waiting and not watch.held
    assert watch.tally.waits_over == 1 and watch.tally.longest_wait == 1.0
