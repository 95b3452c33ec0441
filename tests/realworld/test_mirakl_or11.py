"""Mirakl's published OR11 example (``../shared/reference/mirakl/OR11.response.200.json``) through
our read model and into the refund rules: the fields the real API sends and the simulator used to
lack (delivery dates, PUDO point, who is paid, invoice details, where a line ships from) are read,
and the marketplace's ``can_refund``/``can_cancel`` reach the decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from marketbridge.adapters.mirakl import models
from marketbridge.services.refunds.conversions import market_order_from
from tests.reference import REFERENCE_ROOT, requires_reference

EXAMPLE = REFERENCE_ROOT / "mirakl" / "OR11.response.200.json"
pytestmark = requires_reference


def _order() -> models.Order:
    return models.Order.model_validate(json.loads(EXAMPLE.read_text())["orders"][0])


def test_the_documented_order_fields_are_read() -> None:
    order = _order()
    assert order.delivery_date is not None
    assert order.delivery_date.earliest == datetime(2019, 9, 2, 8, 7, 22, 326000, tzinfo=UTC)
    assert order.delivery_date.latest == datetime(2019, 9, 3, 8, 7, 22, 326000, tzinfo=UTC)
    assert order.shipping_pudo_id == "C1039"
    assert order.customer_directly_pays_seller is False
    assert order.invoice_details is not None
    assert [d.format for d in order.invoice_details.document_details] == ["PDF", "cXML"]
    assert order.invoice_details.payment_terms is not None
    assert (order.invoice_details.payment_terms.days, order.invoice_details.payment_terms.type) == (10, "NET")
    assert order.has_invoice is False and order.can_cancel is False


def test_where_a_line_ships_from_is_read() -> None:
    line = _order().order_lines[0]
    assert line.shipping_from is not None and line.shipping_from.address is not None
    assert (line.shipping_from.address.city, line.shipping_from.address.country_iso_code) == ("New York City", "USA")
    assert line.shipping_from.warehouse is None
    assert line.can_refund is True


def test_the_marketplace_flags_reach_the_refund_rules() -> None:
    order = _order()
    market = market_order_from(order, "TAX_INCLUDED")
    assert market.can_cancel is False
    assert [line.can_refund for line in market.lines] == [line.can_refund for line in order.order_lines]
    assert all(line.in_refundable_state for line in market.lines if line.can_refund)
