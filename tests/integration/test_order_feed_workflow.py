"""The ``orders.feed`` DBOS workflow (read, then dispatch) on our database, started by hand and by
its schedule when ``order_feed_enabled``; and ``marketbridge orders feed --once``."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
from dbos import DBOS
from typer.testing import CliRunner

from marketbridge.bootstrap import build_runtime
from marketbridge.bus import MarketplaceOrderChanged
from marketbridge.cli.main import app
from marketbridge.workflows import engine
from marketbridge.workflows import order_feed as feed_workflows
from tests.conftest import make_settings
from tests.integration.test_order_feed import place
from tests.integration.test_orders_service import in_stock_skus, magento_orders_with
from tests.integration.test_orders_service import place as order_place
from tests.waiting import wait_until

QUIET = {"stock_sync_enabled": False, "price_sync_enabled": False, "refund_sync_enabled": False,
         "catalogue_publish_enabled": False, "audit_enabled": False}


def test_the_workflow_reads_then_dispatches(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, **QUIET))
    seen: list[MarketplaceOrderChanged] = []
    runtime.bus.register(MarketplaceOrderChanged, seen.append)
    engine.launch(runtime, schedules=False)
    try:
        (order_id,) = place(fresh_sandboxes, 1)
        result: dict[str, Any] = DBOS.start_workflow(feed_workflows.feed_workflow).get_result()
        assert result["read"]["orders"] == 1 and result["read"]["by_kind"] == {"appeared": 1}
        assert result["dispatch"] == {"published": 1, "by_kind": {"appeared": 1}, "skipped": None}
        assert [(m.order_id, m.kind) for m in seen] == [(order_id, "appeared")]
        # the next tick within the interval reads nothing and publishes nothing new
        again = DBOS.start_workflow(feed_workflows.feed_workflow).get_result()
        assert again["dispatch"]["published"] == 0 and len(seen) == 1
    finally:
        engine.shutdown()
        runtime.close()


def test_the_schedule_runs_the_feed_when_it_is_enabled(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, order_feed_enabled=True, **QUIET))
    seen: list[MarketplaceOrderChanged] = []
    runtime.bus.register(MarketplaceOrderChanged, seen.append)
    engine.launch(runtime, schedules=True)
    try:
        (order_id,) = place(fresh_sandboxes, 1)
        wait_until(lambda: seen, timeout=40)
        assert [(m.order_id, m.kind) for m in seen] == [(order_id, "appeared")]
        # the handler ran inside the run's dispatch step; the run records its end just after
        wait_until(lambda: [w for w in DBOS.list_workflows(name="orders.feed") if w.status == "SUCCESS"], timeout=10)
    finally:
        engine.shutdown()
        runtime.close()


def test_the_cli_reads_once_and_prints_what_changed(migrated_db_url, fresh_sandboxes, monkeypatch):
    env = {"MARKETBRIDGE_DATABASE_URL": migrated_db_url, "MARKETBRIDGE_MAGENTO_BASE_URL": fresh_sandboxes.magento_url,
           "MARKETBRIDGE_MIRAKL_BASE_URL": fresh_sandboxes.mirakl_url, "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": "0.01"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    a, b = place(fresh_sandboxes, 2)
    runner = CliRunner()
    shown = runner.invoke(app, ["orders", "feed", "--once"])
    assert shown.exit_code == 0, shown.output
    # a first read looks back 7 days: through the order export
    printed = " ".join(shown.output.split())  # the console wraps long lines
    assert "Read 2 orders in 1 pages (OR13 export)" in printed and "2 appeared" in printed
    assert a in shown.output and b in shown.output and "Published 2 changes" in shown.output
    time.sleep(1.0)  # OR11's pace (0.6 s scaled): a new process's limiter does not know the last call
    again = runner.invoke(app, ["orders", "feed", "--once", "--json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)  # the log lines go to stderr
    assert data["read"]["unchanged"] == 2 and data["read"]["events"] == 0 and data["dispatch"]["published"] == 0
    assert data["read"]["source"] == "OR11"  # from the export's cursor less the overlap
    # the orders poll by hand, the feed on by default: it reads no OR11 and says so; the two orders
    # the feed stored are queued for their decision
    pulled = runner.invoke(app, ["orders", "pull"])
    assert pulled.exit_code == 0, pulled.output
    said = " ".join(pulled.output.split())  # as the console wrapped it
    assert "The order feed reads the marketplace's orders" in said and "2 queued for work" in said


def test_with_the_feed_on_orders_reach_adobe_commerce_and_only_the_feed_reads_or11(migrated_db_url, fresh_sandboxes):
    """Issue 20: the orders poll reads no OR11 of its own; the feed hands every order it reads to
    the orders flow and starts the orders poll at once. The orders poll's own schedule is set to
    once an hour here, so an order reaching Adobe Commerce within the wait came by the feed."""
    settings = make_settings(migrated_db_url, fresh_sandboxes, order_feed_enabled=True, acceptance_policy="refuse",
                             order_poll_cron="0 0 * * * *", **QUIET)
    runtime = build_runtime(settings)
    engine.launch(runtime, schedules=True)
    try:
        (sku,) = in_stock_skus(runtime, 1)
        order_id = order_place(fresh_sandboxes, [(sku, 1)])
        # accepted by the rules; the feed's next read (a second later, scaled) may already have moved
        # the record on to awaiting_payment (WAITING_DEBIT), so the transition is looked for, not
        # the state (waiting for the state missed it now and then, on main too)
        wait_until(lambda: "accepted" in _transitions(runtime, order_id), timeout=40)
        httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{order_id}/debit").raise_for_status()
        wait_until(lambda: magento_orders_with(runtime, order_id), timeout=40)
        calls = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/calls").json()
        or11 = [c for c in calls if c["api"] == "OR11"]
        assert or11 and all("order_ids" not in (c.get("query") or {}) for c in or11)  # no per-order re-read
        reactions = [w for w in DBOS.list_workflows(name="orders.react") if w.status == "SUCCESS"]
        assert sum(w.output["enqueued"] for w in reactions) >= 2  # the decision, then the creation
        polls = [w for w in DBOS.list_workflows(name="orders.poll") if w.status == "SUCCESS"]
        assert all(w.output["source"] == "order feed" and w.output["fetched"] == 0 for w in polls)
    finally:
        engine.shutdown()
        runtime.close()


def _transitions(runtime, order_id: str) -> list[str]:
    with runtime.orders_store.unit_of_work() as orders:
        record = orders.order(order_id, runtime.settings.order_connection)
        return [t.to_state for t in record.transitions] if record is not None else []
