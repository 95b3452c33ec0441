"""The budget arithmetic (``domain.budgets``), the per-flow call record (``adapters.mirakl.usage``),
the limiters' read-only ``next_free`` and the flow names (``call_flow``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from marketbridge.adapters.mirakl.limiter import InProcessCallLimiter, SqliteCallLimiter
from marketbridge.adapters.mirakl.usage import CallUsage
from marketbridge.call_flow import acting_as, current_flow, flow_of_workflow
from marketbridge.domain import budgets as b
from marketbridge.domain.budgets import CallCount, Deferral

NOW = 1_800_000_000.0  # a bucket boundary (divisible by 10)


def count(age: float, api: str, flow: str, calls: int = 1) -> CallCount:
    start = (NOW - age) // b.BUCKET_SECONDS * b.BUCKET_SECONDS
    return CallCount(start, api, flow, calls, NOW - age)


# --- domain ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pace", "expected"), [
    (60.0, (1, 60)), (15.0, (4, 240)), (2.0, (30, 1800)), (900.0, (1, 4)), (86400.0, (1, 1)), (None, (None, None)),
])
def test_limits_follow_the_pace(pace: float | None, expected: tuple[int | None, int | None]) -> None:
    assert b.limits(pace) == expected


def test_last_minute_and_last_hour_per_flow() -> None:
    counts = [count(5, "OR11", "order_feed"), count(35, "OR11", "orders"), count(125, "OR11", "order_feed"),
              count(3000, "OR11", "orders", 2), count(3700, "OR11", "orders", 9),  # older than the hour
              count(5, "STO01", "stock")]  # another API
    budget = b.api_budget("OR11", 60.0, counts, NOW)
    assert (budget.last_minute, budget.last_hour) == (2, 5)
    assert {f.flow: (f.last_minute, f.last_hour) for f in budget.flows} == {"order_feed": (1, 2), "orders": (1, 3)}
    assert budget.flows[0].flow == "orders"  # the biggest spender first
    assert budget.over is True  # 2 calls in the last minute of an API allowed once a minute
    assert b.api_budget("OR11", 60.0, counts[2:4], NOW).over is False


def test_a_bucket_overlapping_the_window_counts_so_the_figures_never_understate() -> None:
    # the bucket started 65 s ago but its latest call was 56 s ago: inside the last minute
    early = CallCount(NOW - 70, "OR11", "orders", 1, NOW - 61)
    late = CallCount(NOW - 60, "OR11", "orders", 1, NOW - 56)
    assert b.api_budget("OR11", 60.0, [early], NOW).last_minute == 0
    assert b.api_budget("OR11", 60.0, [late], NOW).last_minute == 1


def test_next_free_slot_is_the_later_of_the_limiter_and_the_last_call_plus_the_pace() -> None:
    counts = [count(20, "OR11", "order_feed")]
    assert b.api_budget("OR11", 60.0, counts, NOW).next_free_in == pytest.approx(40.0)
    assert b.api_budget("OR11", 60.0, counts, NOW, next_free_in=90.0).next_free_in == pytest.approx(90.0)
    assert b.api_budget("OR11", 60.0, [count(80, "OR11", "orders")], NOW).next_free_in == 0.0
    assert b.api_budget("OR23", None, [count(1, "OR23", "shipments")], NOW).next_free_in == 0.0


def test_budgets_list_the_always_apis_the_called_ones_and_the_deferred_ones() -> None:
    deferrals = [Deferral("catalogue", "P41", NOW - 10, NOW + 800)]
    rows = b.budgets({"OR11": 60.0, "STO01": 60.0, "P41": 900.0}, [count(5, "STO01", "stock")], deferrals, NOW,
                     always=["OR11"])
    assert [r.api for r in rows] == ["OR11", "P41", "STO01"]
    assert rows[1].deferrals == (deferrals[0],) and rows[1].per_hour == 4
    assert rows[0].last_hour == 0 and rows[0].flows == ()


def test_the_latest_deferral_of_each_flow_and_its_words() -> None:
    older = Deferral("order_feed", "OR11", NOW - 300, NOW - 240)
    newer = Deferral("order_feed", "OR11", NOW - 18, NOW + 42)
    stock = Deferral("stock", "STO01", NOW - 200, NOW - 150)
    latest = b.latest_deferral_per_flow([older, stock, newer])
    assert latest == [newer, stock]
    words = {"order_feed": "order feed"}
    assert b.deferral_line(newer, NOW, words) == "order feed: waiting for OR11, next slot in 42 s"
    assert b.deferral_line(stock, NOW) == "stock: waited for STO01 3 min ago; free again since then"
    as_json = b.deferral_dict(newer, NOW)
    assert as_json["waiting"] is True and as_json["until"] == b.iso(NOW + 42)


@pytest.mark.parametrize(("pace", "words"), [(60.0, "once a minute"), (900.0, "once every 15 min"),
                                             (15.0, "once every 15 s"), (86400.0, "once a day"),
                                             (None, "once per business event")])
def test_pace_words(pace: float | None, words: str) -> None:
    assert b.pace_words(pace) == words


# --- the per-flow record ---------------------------------------------------------------------------------


class Store:
    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.counts: list[CallCount] = []
        self.deferrals: list[Deferral] = []

    def add(self, counts: Sequence[CallCount], deferrals: Sequence[Deferral]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is locked")
        self.counts.extend(counts)
        self.deferrals.extend(deferrals)

    def read(self, since: float) -> tuple[list[CallCount], list[Deferral]]:
        return list(self.counts), list(self.deferrals)


def test_usage_sums_calls_per_bucket_api_and_flow_and_writes_them_in_one_batch() -> None:
    clock = [NOW + 1]
    store = Store()
    usage = CallUsage(store, flush_seconds=3600, clock=lambda: clock[0])
    for _ in range(3):
        usage.called("OR11", "order_feed")
    usage.called("OR11", "orders")
    clock[0] = NOW + 12  # the next bucket
    usage.called("OR11", "order_feed")
    usage.deferred("orders", "OR11", 48.0, "not due")
    pending, deferrals = usage.pending()
    assert sorted((c.start, c.flow, c.calls) for c in pending) == [
        (NOW, "order_feed", 3), (NOW, "orders", 1), (NOW + 10, "order_feed", 1)]
    assert deferrals == [Deferral("orders", "OR11", NOW + 12, NOW + 60, "not due")]
    assert usage.flush() is True
    assert usage.pending() == ([], [])
    assert sum(c.calls for c in store.counts) == 5 and len(store.deferrals) == 1
    usage.close()


def test_a_failed_flush_keeps_the_counts_for_the_next_one() -> None:
    store = Store(fail=1)
    usage = CallUsage(store, flush_seconds=3600, clock=lambda: NOW)
    usage.called("STO01", "stock")
    assert usage.flush() is False
    usage.called("STO01", "stock")
    assert usage.flush() is True
    assert [(c.api, c.flow, c.calls) for c in store.counts] == [("STO01", "stock", 2)]
    usage.close()


def test_the_flush_thread_writes_without_the_callers_help() -> None:
    store = Store()
    usage = CallUsage(store, flush_seconds=0.05)
    usage.called("OR11", "orders")
    deadline = time.monotonic() + 5
    while not store.counts and time.monotonic() < deadline:
        time.sleep(0.02)
    usage.close()
    assert [(c.api, c.flow, c.calls) for c in store.counts] == [("OR11", "orders", 1)]
    assert usage._thread is not None and not usage._thread.is_alive()  # close() stopped it


# --- limiters: next_free -------------------------------------------------------------------------------------


def test_in_process_limiter_says_when_the_next_call_may_go_without_claiming_it() -> None:
    limiter = InProcessCallLimiter()
    assert limiter.next_free("OR11", 60.0) == 0.0
    assert limiter.acquire("OR11", 60.0, 0.0)
    assert 59.0 < limiter.next_free("OR11", 60.0) <= 60.0
    assert 59.0 < limiter.next_free("OR11", 60.0) <= 60.0  # asking twice claims nothing
    limiter.defer("OR23", 30.0)
    assert 29.0 < limiter.next_free("OR23", 0.0) <= 30.0


def test_sqlite_limiter_next_free_is_shared_through_the_file(tmp_path) -> None:
    path = tmp_path / "limits.sqlite"
    worker, console = SqliteCallLimiter(path), SqliteCallLimiter(path)
    assert console.next_free("OR11", 60.0) == 0.0  # never called: no bucket table yet
    assert worker.acquire("OR11", 60.0, 0.0)
    # pyrate-limiter stamps the call with SQLite's clock (ms): allow it a moment ahead of ours
    assert 58.0 < console.next_free("OR11", 60.0) <= 61.0
    worker.defer("OR24", 120.0)
    assert 118.0 < console.next_free("OR24", 0.0) <= 120.0


def test_sqlite_limiter_free_api_is_not_refused_while_the_leaker_holds_the_file_lock(tmp_path) -> None:
    """pyrate-limiter's background leaker takes the bucket's file lock while it trims old calls.
    A call with ``max_wait=0`` on a free API used to lose to it (CI saw it once) and was counted
    as the flow's deferral; a busy lock is not the pace saying no."""
    import threading

    from filelock import FileLock

    path = tmp_path / "limits.sqlite"
    limiter = SqliteCallLimiter(path)
    assert limiter.acquire("OR11", 0.05, 1.0)  # creates the bucket and its lock file
    time.sleep(0.06)  # the pace allows the next call now
    held, release = threading.Event(), threading.Event()

    def leaker() -> None:
        with FileLock(str(path) + ".lock"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=leaker)
    thread.start()
    held.wait(5)
    threading.Timer(0.2, release.set).start()
    try:
        assert limiter.acquire("OR11", 0.05, 0.0)
    finally:
        release.set()
        thread.join()
    # and the pace still refuses, without waiting out the lock's grace
    assert limiter.acquire("OR12", 60.0, 0.0)
    started = time.monotonic()
    assert not limiter.acquire("OR12", 60.0, 0.0)
    assert time.monotonic() - started < SqliteCallLimiter.LOCK_GRACE


# --- flow names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "flow"), [
    ("orders.feed", "order_feed"), ("orders.feed.read", "order_feed"), ("orders.poll", "orders"),
    ("shipments.send", "shipments"), ("refunds.process_creditmemo", "refunds"), ("stock.push_batch", "stock"),
    ("catalogue.audit", "catalogue"), ("console.alerts_digest", "console"), ("maintenance.sweep", "maintenance"),
    ("something.else", "other"),
])
def test_flow_of_a_workflow_name(name: str, flow: str) -> None:
    assert flow_of_workflow(name) == flow


def test_acting_as_nests_and_restores() -> None:
    assert current_flow() == "other"
    with acting_as("stock"):
        with acting_as("cli"):
            assert current_flow() == "cli"
        assert current_flow() == "stock"
    assert current_flow() == "other"
