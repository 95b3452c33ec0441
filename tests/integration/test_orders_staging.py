"""Orders held in STAGING by the operator's fraud check (seller OpenAPI ``order_state``: "STAGING").

Our poll stores them like any new order, but nothing acts on them: no acceptance (OR21 would be
refused), no Magento order, until the marketplace moves them to WAITING_ACCEPTANCE."""

from __future__ import annotations

import httpx2
import pytest

from marketbridge.adapters.db.orders import SqlOrdersRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.services import orders as order_service
from tests.conftest import make_settings
from tests.integration.test_orders_service import in_stock_skus, place, read_orders


@pytest.fixture
def runtime(migrated_db_url, fresh_sandboxes):
    built = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, order_poll_overlap_seconds=60))
    yield built
    built.close()


def _pending(runtime) -> list[str]:
    with runtime.db.session() as s:
        return [a.phase for a in order_service.pending_actions(SqlOrdersRepository(s), runtime.settings)]


def test_a_staging_order_waits_for_the_fraud_check_before_it_is_decided(runtime, fresh_sandboxes):
    mirakl = fresh_sandboxes.mirakl_url
    httpx2.post(f"{mirakl}/_sandbox/settings", json={"staging_seconds": 600}).raise_for_status()
    (sku,) = in_stock_skus(runtime, 1)
    order_id = place(fresh_sandboxes, [(sku, 1)])
    assert read_orders(runtime).orders_new == 1
    assert _pending(runtime) == []  # nothing to accept yet
    decided = order_service.decide(runtime, order_id)  # even when asked directly, it does not act
    assert decided.outcome != "accept"
    calls = httpx2.get(f"{mirakl}/_sandbox/calls").json()
    assert not [c for c in calls if c["api"] == "OR21"]
    assert httpx2.get(f"{mirakl}/_sandbox/orders/{order_id}").json()["order_state"] == "STAGING"

    httpx2.post(f"{mirakl}/_sandbox/clock/advance", json={"seconds": 601}).raise_for_status()
    read_orders(runtime)
    assert _pending(runtime) == ["accept"]
    assert order_service.decide(runtime, order_id).outcome == "accept"
