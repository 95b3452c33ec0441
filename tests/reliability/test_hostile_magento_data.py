"""Adobe Commerce data with missing fields, through the real client models and the flows' readers.

Two layers:

* the client models on their own, with the fields a filtered (``?fields=``) or customised store may
  leave out: each parses with safe defaults or raises a clear validation error;
* the real flows against the Magento sandbox seen through :class:`StrippingTransport`, a transport
  that forwards every call to the sandbox over real HTTP and deletes chosen fields from the JSON
  answers (product price/status/extension_attributes, order items/addresses, shipment tracks,
  credit-memo items). The flows must not crash: they skip with a log line, wait, or record an
  issue, and what they stored before stays stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.orders import SqlOrdersRepository
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.magento.client import MagentoClient
from marketbridge.bootstrap import build_runtime
from tests.conftest import Sandboxes, make_settings, start_sandboxes

Stripper = Callable[[str, Any], Any]


class StrippingTransport(httpx2.BaseTransport):
    """Forwards to the real sandbox; ``rules`` (path regex → function) rewrite the JSON answers."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.rules: list[tuple[re.Pattern[str], str, Stripper]] = []
        self.hits = 0

    def strip(self, path_pattern: str, fn: Stripper, method: str = "GET") -> None:
        self.rules.append((re.compile(path_pattern), method, fn))

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        rules = [fn for pattern, method, fn in self.rules
                 if request.method == method and pattern.search(request.url.path)]
        if not rules or response.status_code != 200:
            return response
        response.read()
        body = json.loads(response.content)
        for fn in rules:
            body = fn(request.url.path, body)
        self.hits += 1
        return httpx2.Response(200, json=body, headers={"content-type": "application/json"})

    def close(self) -> None:
        self.inner.close()


def without(*keys: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def drop(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k not in keys} if isinstance(item, dict) else item
    return drop


def on_items_or_entity(fn: Callable[[dict[str, Any]], dict[str, Any]],
                       when: Callable[[dict[str, Any]], bool] = lambda item: True) -> Stripper:
    """Apply ``fn`` to a single entity or to every ``items`` entry of a search result."""
    def rewrite(_path: str, body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("items"), list):
            body["items"] = [fn(i) if when(i) else i for i in body["items"]]
            return body
        return fn(body) if isinstance(body, dict) and when(body) else body
    return rewrite


# ----------------------------------------------------------------------------------------------------
# The client models alone


@pytest.mark.parametrize("raw", [
    {"sku": "MB-1"},
    {"sku": "MB-1", "extension_attributes": []},          # PHP's empty array for an empty object
    {"sku": "MB-1", "extension_attributes": None, "custom_attributes": [], "options": []},
    {"sku": "MB-1", "price": None, "status": 2, "type_id": "simple", "surprise": {"x": 1}},
])
def test_products_with_missing_fields_parse_with_safe_defaults(raw):
    product = magento_models.Product.model_validate(raw)
    assert product.sku == "MB-1"
    assert product.special_price is None
    assert not product.has_required_options


@pytest.mark.parametrize("model, raw", [
    (magento_models.Product, {"price": 10}),                                   # no sku
    (magento_models.Order, {"increment_id": "1"}),                             # no entity_id
    (magento_models.Shipment, {"entity_id": 1}),                               # no order_id
    (magento_models.Creditmemo, {"order_id": 1}),                              # no entity_id
    (magento_models.OrderItem, {"sku": "MB-1"}),                               # no item_id
])
def test_records_without_their_identity_are_a_validation_error(model, raw):
    with pytest.raises(ValidationError):
        model.model_validate(raw)


def test_documents_without_lines_parse_as_empty():
    order = magento_models.Order.model_validate({"entity_id": 1, "increment_id": "000000001", "extension_attributes": []})
    assert order.items == [] and order.shipping_address is None and order.top_level_items() == []
    assert magento_models.Shipment.model_validate({"entity_id": 2, "order_id": 1}).tracks == []
    assert magento_models.Creditmemo.model_validate({"entity_id": 3, "order_id": 1}).items == []


# ----------------------------------------------------------------------------------------------------
# The flows, against the sandbox through the stripping transport


@pytest.fixture(scope="module")
def boxes() -> Iterator[Sandboxes]:
    started = start_sandboxes(products=60, seed=7)
    yield started
    started.stop()


@pytest.fixture
def hostile(migrated_db_url: str, boxes: Sandboxes) -> Iterator[tuple[Any, StrippingTransport]]:
    transport = StrippingTransport()
    runtime = build_runtime(make_settings(migrated_db_url, boxes, order_poll_overlap_seconds=60))
    runtime.__dict__["magento"] = MagentoClient.from_settings(runtime.settings, transport=transport)
    try:
        yield runtime, transport
    finally:
        runtime.close()


def issues_of(runtime: Any) -> list[tuple[str, str]]:
    with runtime.db.session() as session:
        return [(r.type, r.object_id) for r in session.scalars(select(IssueRecord))]


def test_stock_flow_survives_products_without_price_status_or_extension_attributes(hostile, boxes, caplog):
    from marketbridge.sandbox.catalogue import seed_catalogue
    from marketbridge.services.stock import poll as stock_poll
    from marketbridge.services.stock import push as stock_push

    runtime, transport = hostile
    simple = [p.sku for p in seed_catalogue(60, 7) if p.type_id == "simple" and p.on_marketplace
              and p.marketplace_sku == p.sku and p.status == 1 and p.manage_stock]
    broken = set(simple[:6])
    transport.strip(r"/V1/products", on_items_or_entity(without("price", "status", "extension_attributes"),
                                                        lambda item: item.get("sku") in broken))
    transport.strip(r"/V1/products", on_items_or_entity(without("custom_attributes", "type_id"),
                                                        lambda item: item.get("sku") == simple[6]))
    result = stock_poll.full_resync(runtime)
    assert result.skus > 20
    stock_push.push_now(runtime)
    assert transport.hits > 0
    healthy = simple[7]
    offer = httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/{healthy}").json()
    assert offer.get("quantity") is not None
    from marketbridge.adapters.db.models.stock import SkuState

    with runtime.db.session() as session:
        states = {s.sku: s for s in session.scalars(select(SkuState).where(SkuState.sku.in_(list(broken))))}
    assert set(states) == broken  # every SKU is known, none was dropped silently
    for row in states.values():
        assert row.price is None and row.published_price is None  # no price was made up from nothing
        assert row.stock_result in ("ok", "")  # stock (read from the source items) still flows


def test_orders_and_shipments_survive_orders_without_items_or_address_and_shipments_without_tracks(
        hostile, boxes):
    from marketbridge.adapters.magento.criteria import SearchCriteria
    from marketbridge.services import orders, shipments
    from tests.integration.shipments_helpers import marketplace_order, simple_skus
    from tests.integration.test_orders_service import read_orders

    runtime, transport = hostile
    sku = simple_skus(1, products=60, seed=7)[0]
    placed = marketplace_order(boxes.mirakl_url, runtime, [(sku, 1)])
    order_id = placed["order_id"]
    read_orders(runtime)  # the order feed's read (on by default), then the orders poll
    try:
        orders.create_in_magento(runtime, order_id)
        orders.finish_creation(runtime, order_id)
    except Exception as error:  # the order flow may refuse; it must say why in plain terms
        assert str(error)
    magento = [o for o in runtime.magento.search_orders(SearchCriteria().where("ext_order_id", order_id)).items
               if o.ext_order_id == order_id]
    if not magento:
        pytest.skip("the order flow did not create the Magento order in this configuration")
    entity_id = magento[0].entity_id
    # From now on Magento answers without the order's items and address, and shipments without tracks.
    transport.strip(r"/V1/orders", on_items_or_entity(without("items", "extension_attributes", "billing_address")))
    transport.strip(r"/V1/shipments?", on_items_or_entity(without("tracks")))
    transport.strip(r"/V1/shipment/\d+", on_items_or_entity(without("tracks")))
    runtime.magento.ship_order(entity_id)  # the warehouse ships, without a tracking number
    found = shipments.poll_new_shipments(runtime)
    assert found, "the shipment was not detected"
    outcomes = []
    for shipment_id in found:
        outcomes.append(shipments.prepare(runtime, shipment_id))
    assert all(o.action == "wait" for o in outcomes), outcomes  # no tracks, no items: never sent blind
    assert any(kind.startswith("shipment_") for kind, _ in issues_of(runtime))  # and people are told
    with runtime.db.session() as session:
        assert orders.get_order_record(SqlOrdersRepository(session), order_id) is not None  # what was stored stays stored


def test_refunds_survive_a_credit_memo_without_items(hostile, boxes):
    from marketbridge.services import refunds
    from tests.integration.shipments_helpers import magento_order, marketplace_order, simple_skus

    runtime, transport = hostile
    sku = simple_skus(2, products=60, seed=7)[1]
    placed = marketplace_order(boxes.mirakl_url, runtime, [(sku, 1)])
    order = magento_order(runtime, placed["order_id"], [(sku, 1)])
    runtime.magento.invoice_order(order.entity_id)
    memo_id = runtime.magento.refund_order(order.entity_id)
    transport.strip(r"/V1/creditmemo", on_items_or_entity(without("items")))
    refunds.record_creditmemo(runtime, int(memo_id))
    outcome = refunds.prepare(runtime, int(memo_id), live=True)  # planned now, not after the feed
    assert outcome.status == "held" and outcome.problems  # a decision in words, not a crash
    assert any(kind.startswith("refund_") for kind, _ in issues_of(runtime))


# ----------------------------------------------------------------------------------------------------
# Garbage where JSON entities are expected: a typed, clear error from the client


GARBAGE = {
    "array": b"[]", "string": b'"x"', "no-identity": b'{"price": 1}', "html": b"<html><body>Error</body></html>",
    "deep": b"[" * 5000 + b"]" * 5000, "null": b"null", "number": b"42",
    "wrong-types": b'{"sku": ["a"], "price": "free", "status": "on"}',
}


def garbage_client(body: bytes) -> MagentoClient:
    def answer(_request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "application/json"})

    settings = make_settings("sqlite://", magento_base_url="http://magento.invalid")
    client = MagentoClient.from_settings(settings, transport=httpx2.MockTransport(answer))
    client.retry_attempts = 1
    return client


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_entities_are_a_typed_remote_error(name):
    from marketbridge.adapters.errors import RemoteError
    from marketbridge.adapters.magento.criteria import SearchCriteria

    client = garbage_client(GARBAGE[name])
    calls = {
        "get_product": lambda: client.get_product("MB-1"),
        "get_order": lambda: client.get_order(1),
        "get_shipment": lambda: client.get_shipment(1),
        "get_creditmemo": lambda: client.get_creditmemo(1),
        "search_orders": lambda: client.search_orders(SearchCriteria()),
        "ship_order": lambda: client.ship_order(1),
        "configurable_children": lambda: client.configurable_children("MB-1"),
    }
    valid = {("ship_order", "number"), ("configurable_children", "null"), ("configurable_children", "array"),
             ("search_orders", "no-identity"), ("search_orders", "wrong-types")}  # no "items": an empty page
    try:
        for call_name, call in calls.items():
            if (call_name, name) in valid:  # e.g. 42 is a fine id; null/[] are a fine empty list
                call()
                continue
            with pytest.raises(RemoteError) as caught:
                call()
            assert str(caught.value), call_name
            assert "MB-1" not in str(caught.value) or call_name == "get_product"
    finally:
        client.close()


@pytest.mark.parametrize("body", [b'"lots"', b"null", b"[1]", b'"NaN"', b"1e999", b"true"])
def test_a_salable_quantity_that_is_not_a_number_is_a_remote_error(body):
    from marketbridge.adapters.errors import RemoteError

    client = garbage_client(body)
    try:
        with pytest.raises(RemoteError):
            client.salable_quantity("MB-1", 1)
    finally:
        client.close()
