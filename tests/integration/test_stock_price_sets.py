"""Issue 14 item 5: PRI01 replaces every price of an offer. With ``price_discounts=keep`` (the
default) a discount and a channel price set in the Mirakl back office survive our price push; with
``magento`` the discount is Magento's special price and its dates. Both sandboxes, a real database."""

from __future__ import annotations

import datetime as dt

import httpx2
import pytest

from marketbridge.bootstrap import build_runtime
from marketbridge.services.stock import outbox
from marketbridge.services.stock import push as stock_push
from tests.conftest import make_settings
from tests.integration.test_stock_sync import offer, simple_on_marketplace

MAGENTO = {"Authorization": "Bearer sandbox-magento-token"}


def _runtime(db_url, boxes, **settings):
    return build_runtime(make_settings(db_url, boxes, **settings))


def _set_price(boxes, sku: str, price: float, **attributes: str) -> None:
    product = {"sku": sku, "price": price,
               "custom_attributes": [{"attribute_code": k, "value": v} for k, v in attributes.items()]}
    response = httpx2.put(f"{boxes.magento_url}/rest/V1/products/{sku}", json={"product": product}, headers=MAGENTO)
    assert response.status_code == 200, response.text


def _push_price(rt, sku: str) -> None:
    with rt.db.session() as session:
        outbox.note_hints(session, [sku], stock=False, price=True, force=True, reason="test")
    stock_push.push_now(rt)


@pytest.mark.parametrize("explicit", [False, True])
def test_keep_mode_sends_back_the_prices_set_in_the_back_office(migrated_db_url, fresh_sandboxes, explicit) -> None:
    boxes = fresh_sandboxes
    rt = _runtime(migrated_db_url, boxes, **({"price_discounts": "keep"} if explicit else {}))
    try:
        sku = simple_on_marketplace(boxes)[2]
        current = offer(boxes, sku)["all_prices"][0]["unit_origin_price"]
        edit = {"discount_price": round(current / 2, 2), "discount_start": "2026-01-01T00:00:00Z",
                "discount_end": "2099-01-01T00:00:00Z", "channel_prices": {"JL-APP": current + 5}}
        assert httpx2.put(f"{boxes.mirakl_url}/_sandbox/offers/{sku}", json=edit).status_code == 200
        _set_price(boxes, sku, current + 1)
        _push_price(rt, sku)
        after = offer(boxes, sku)
        assert after["discount"]["origin_price"] == current + 1
        assert after["discount"]["discount_price"] == round(current / 2, 2)
        assert after["discount"]["start_date"] == "2026-01-01T00:00:00Z"
        assert [(b["channel_code"], b["unit_origin_price"]) for b in after["all_prices"][1:]] == [("JL-APP", current + 5)]
    finally:
        rt.close()


def test_magento_mode_sends_the_special_price_as_the_discount(migrated_db_url, fresh_sandboxes) -> None:
    boxes = fresh_sandboxes
    rt = _runtime(migrated_db_url, boxes, price_discounts="magento")
    try:
        sku = simple_on_marketplace(boxes)[3]
        today = dt.datetime.now(dt.UTC).date()
        until = today + dt.timedelta(days=10)
        _set_price(boxes, sku, 80.0, special_price="60", special_from_date=f"{today - dt.timedelta(days=1)} 00:00:00",
                   special_to_date=f"{until} 00:00:00")
        _push_price(rt, sku)
        after = offer(boxes, sku)
        assert (after["discount"]["origin_price"], after["discount"]["discount_price"]) == (80.0, 60.0)
        assert after["discount"]["end_date"] == f"{until}T23:59:59Z" and after["price"] == 60.0
    finally:
        rt.close()


def test_keep_mode_sends_no_price_when_the_prices_held_cannot_be_read(migrated_db_url, fresh_sandboxes) -> None:
    """Sending our price alone would delete the others: a failed OF21 read fails the upload, and
    the value waits for the next window."""
    boxes = fresh_sandboxes
    rt = _runtime(migrated_db_url, boxes)
    try:
        sku = simple_on_marketplace(boxes)[4]
        current = offer(boxes, sku)["all_prices"][0]["unit_origin_price"]
        httpx2.post(f"{boxes.mirakl_url}/_sandbox/faults",
                    json={"rules": [{"endpoint": "OF21", "error_rate": 1.0, "error_status": 403}]})
        _set_price(boxes, sku, current + 3)
        with rt.db.session() as session:
            outbox.note_hints(session, [sku], stock=False, price=True, force=True, reason="test")
        outcomes = stock_push.push_now(rt, max_windows=1)
        assert [(o.api, o.state) for o in outcomes if o.api == "PRI01"] == [("PRI01", "failed")]
        calls = [c["api"] for c in httpx2.get(f"{boxes.mirakl_url}/_sandbox/calls").json()]
        assert "PRI01" not in calls
        with rt.db.session() as session:
            assert outbox.pending_keys(session, [sku]) == {("price", sku)}
        httpx2.delete(f"{boxes.mirakl_url}/_sandbox/faults")
    finally:
        rt.close()
