"""The order feed's long-window read through the order export (OR13 → OR14 → OR15) against the
Mirakl simulator over real HTTP and a real database: a first read (7 days back, longer than
``order_feed_export_after_seconds``) makes no OR11 call, stores every order in the mirror and
in the orders flow, and moves the cursor; the next read is OR11's from that cursor less the
overlap; an export refused for OR13's pace reads nothing and keeps the cursor."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs

import httpx2
import pytest

from marketbridge.services import order_feed
from marketbridge.services.order_feed.reading import wire_time
from marketbridge.settings import Settings
from tests.conftest import runtime_builder
from tests.integration.test_order_feed import accept, events, place

EXPORT_AFTER = 6 * 3600  # the production default (tests/conftest.py sets 0 for every other test)


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    yield from runtime_builder(migrated_db_url, fresh_sandboxes, order_feed_enabled=True, order_poll_page_size=2,
                               order_feed_export_after_seconds=EXPORT_AFTER)


def calls(boxes) -> list[dict[str, Any]]:
    return httpx2.get(boxes.mirakl_url + "/_sandbox/calls").json()


def forget_calls(boxes) -> None:
    httpx2.delete(boxes.mirakl_url + "/_sandbox/calls").raise_for_status()


def feed_cursor(runtime) -> dt.datetime | None:
    with runtime.order_feed_store.mirror() as mirror:
        return mirror.status(dt.datetime.now(dt.UTC)).cursor


def test_a_first_read_goes_through_the_export_and_the_next_through_or11(rt, fresh_sandboxes):
    runtime = rt()
    assert runtime.settings.order_feed_export_after_seconds == 6 * 3600  # the default; the first read looks back 7 days
    assert Settings.model_fields["order_feed_export_after_seconds"].default == EXPORT_AFTER
    ids = place(fresh_sandboxes, 3)
    forget_calls(fresh_sandboxes)
    first = order_feed.read(runtime, force=True)
    apis = [c["api"] for c in calls(fresh_sandboxes)]
    assert "OR11" not in apis, apis
    assert apis.count("OR13") == 1 and "OR14" in apis and apis.count("OR15") == 1
    assert first.source == "OR13 export" and first.failed == []
    assert (first.orders, first.pages, first.events, first.orders_new) == (3, 2, 3, 3)  # pages of 2
    assert sorted(events(runtime)) == sorted((i, "appeared") for i in ids)
    with runtime.order_feed_store.mirror() as mirror:
        mirrored = [mirror.get(i) for i in ids]
    assert all(m is not None for m in mirrored)
    with runtime.orders_store.unit_of_work() as orders:  # handed to the orders flow, as OR11's pages are
        assert all(orders.order(i, runtime.settings.order_connection) is not None for i in ids)
    cursor = feed_cursor(runtime)
    assert cursor is not None and cursor >= max(m.updated_at for m in mirrored if m is not None)

    accept(runtime, ids[0])
    forget_calls(fresh_sandboxes)
    second = order_feed.read(runtime, force=True)
    asked = [c for c in calls(fresh_sandboxes) if c["api"] in ("OR11", "OR13")]
    assert {c["api"] for c in asked} == {"OR11"} and len(asked) == second.pages == 2  # its pages of 2
    assert parse_qs(asked[0]["query"])["start_update_date"] == [wire_time(cursor - dt.timedelta(seconds=120))]
    assert second.source == "OR11" and [(c.order_id, c.kind.value) for c in second.changes] == [(ids[0], "accepted")]
    assert len(events(runtime)) == 4


def test_an_export_refused_for_or13s_pace_reads_nothing_and_keeps_the_cursor(rt, fresh_sandboxes):
    # at the real pace (OR13 every 5 minutes, more than the client waits), with every read's window
    # (the 120 s overlap at least) longer than the threshold: each read asks for an export
    runtime = rt(mirakl_rate_limit_scale=1.0, order_feed_export_after_seconds=60)
    place(fresh_sandboxes, 2)
    first = order_feed.read(runtime, force=True)
    assert first.source == "OR13 export" and first.orders == 2
    cursor = feed_cursor(runtime)
    assert cursor is not None
    (late,) = place(fresh_sandboxes, 1)
    forget_calls(fresh_sandboxes)
    refused = order_feed.read(runtime, force=True)
    assert refused.skipped == "OR13 not due" and refused.not_due_seconds is not None and refused.not_due_seconds > 60
    assert (refused.orders, refused.pages) == (0, 0)
    assert calls(fresh_sandboxes) == []  # refused by our own limiter: no OR13, and no OR11 paging instead
    assert feed_cursor(runtime) == cursor
    with runtime.order_feed_store.mirror() as mirror:
        status = mirror.status(dt.datetime.now(dt.UTC))
        assert mirror.get(late) is None
    assert status.last_error is None and status.reader is None
    assert status.next_read_due is not None and status.next_read_due > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
