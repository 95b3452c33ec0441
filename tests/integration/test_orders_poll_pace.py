"""The orders poll under a slower OR11 pace (a key registered as an External Partner integration:
OR11 every 15 minutes, seller OpenAPI). A scheduled run that comes before OR11 is due reads
nothing and says so; it is not a failure, so the run's other work still happens."""

from __future__ import annotations

import httpx2

from marketbridge.bootstrap import build_runtime
from marketbridge.services import orders as order_service
from tests.conftest import make_settings


def test_a_poll_before_or11_is_due_reads_nothing_and_does_not_fail(migrated_db_url, fresh_sandboxes):
    httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/settings", json={"external_partner": True}).raise_for_status()
    # the poll's own OR11 read (the feed off); the feed's read under the same pace: test_order_feed_flow.py
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, mirakl_external_partner=True,
                                          order_feed_enabled=False))
    try:
        runtime.mirakl.max_limiter_wait = 1.0  # 900 s x 0.01 = 9 s: longer than this run may wait
        first = order_service.pull(runtime)
        assert first.not_due_seconds is None
        second = order_service.pull(runtime)
        assert second.fetched == 0 and second.not_due_seconds is not None and second.not_due_seconds > 8
        assert second.as_dict()["not_due_seconds"] == second.not_due_seconds
        calls = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/calls").json()
        assert [c["status"] for c in calls if c["api"] == "OR11"] == [200]  # the early run sent nothing
    finally:
        runtime.close()
