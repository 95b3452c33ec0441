"""The minimised webhook body keeps what every handler reads, and nothing of the customer."""

from __future__ import annotations

import json

from marketbridge.adapters.magento.webhooks import parse_envelope
from marketbridge.services.personal_data import minimise_body, redact
from marketbridge.services.refunds import creditmemo_id_from_event
from marketbridge.services.stock import skus_of
from marketbridge.workflows.shipments import _shipment_id_of

CUSTOMER = {"customer_firstname": "Quennell", "customer_email": "q@example.org", "customer_taxvat": "GB123",
            "billing_address": {"entity_id": 7, "street": ["42 Zanzibar Wharf"], "telephone": "07700 911482",
                                "vat_id": "GB999", "customer_address_id": 3}}


def minimised(event: str, data: dict, io: bool = False) -> tuple[str, dict, str]:
    body = (json.dumps({"event": {"id": "evt-1", "type": f"com.adobe.commerce.{event}", "data": {"value": data}}})
            if io else json.dumps({"eventName": event, "data": data}))
    small = minimise_body(body, event)
    name, out = parse_envelope(small.encode())
    return name, out, small


def test_an_order_event_keeps_its_skus_and_ids_and_loses_the_customer():
    data = {"order": {**CUSTOMER, "entity_id": 12, "increment_id": "000000012",
                      "items": [{"sku": "MB-1", "qty_ordered": 2, "name": "Kettle"}, {"sku": "MB-2"}]}}
    name, out, small = minimised("observer.sales_order_place_after", data)
    assert name == "observer.sales_order_place_after"
    assert skus_of(out) == ["MB-1", "MB-2"]
    assert out["order"]["entity_id"] == 12 and out["order"]["billing_address"]["customer_address_id"] == 3
    for personal in ("Quennell", "q@example.org", "Zanzibar", "07700", "GB123", "GB999"):
        assert personal not in small


def test_shipment_track_and_credit_memo_events_keep_the_ids_their_handlers_read():
    _, shipment, _ = minimised("observer.sales_order_shipment_save_after",
                               {"shipment": {"entity_id": 55, "order_id": 12, "shipping_address": CUSTOMER}})
    assert _shipment_id_of("observer.sales_order_shipment_save_after", shipment) == 55
    _, track, _ = minimised("observer.sales_order_shipment_track_save_after",
                            {"track": {"parent_id": 55, "track_number": "TRK-1", "title": "Parcelforce"}})
    assert _shipment_id_of("observer.sales_order_shipment_track_save_after", track) == 55
    _, memo, _ = minimised("observer.sales_order_creditmemo_save_after", {"creditmemo": {"entity_id": 9, **CUSTOMER}},
                           io=True)
    assert creditmemo_id_from_event({"data": memo}) == 9


def test_a_plugin_body_keeps_the_hook_name_its_url_gave_it():
    """Issue 14: a plugin hook's body names nothing; the stored name (from the URL) is kept."""
    hook = "plugin.magento.sales.api.order_management.place"
    body = json.dumps({"subject": [], "order": {**CUSTOMER, "entity_id": 12, "items": [{"sku": "MB-1"}]}})
    small = minimise_body(body, hook)
    name, out = parse_envelope(small.encode())
    assert name == hook and skus_of(out) == ["MB-1"] and "Quennell" not in small
    cart = json.dumps({"subject": [], "cartId": "21", "address": CUSTOMER["billing_address"]})
    assert parse_envelope(minimise_body(cart, "plugin.magento.quote.api.x").encode())[0] == "plugin.magento.quote.api.x"


def test_an_unparseable_body_keeps_only_its_event_name():
    assert json.loads(minimise_body("not json", "observer.x")) == {"eventName": "observer.x", "data": {},
                                                                   "minimised": True}


def test_redact_reaches_into_json_and_prefers_the_longest_match():
    import re

    pattern = re.compile("quennell@example.org|quennell", re.IGNORECASE)
    assert redact({"a": ["Mail QUENNELL@example.org", {"b": "Quennell"}], "n": 3}, pattern) == {
        "a": ["Mail [removed]", {"b": "[removed]"}], "n": 3}
