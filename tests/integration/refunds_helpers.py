"""Build refund scenarios on both sandboxes over real HTTP.

A *shipped marketplace order* here is: placed on the Mirakl sandbox (control API), accepted with
OR21, debited (control API), given tracking (OR23) and shipped (OR24) through our client; and the
same order in the Magento sandbox, saved directly with ``ext_order_id`` = the marketplace order id
and the marketplace's prices and shipping, then invoiced (so it can be refunded).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.mirakl import models as mirakl_models


@pytest.fixture(scope="session")
def refunds_template_db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One migrated SQLite file per session; each test gets a copy (migrating takes ~2 s)."""
    from marketbridge.adapters.db.migrate import upgrade

    path = tmp_path_factory.mktemp("refunds-template") / "template.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def refunds_db_url(request: pytest.FixtureRequest, tmp_path: Any, refunds_template_db: Any) -> str:
    """A fresh migrated database: a copy of the template on SQLite, a new database on PostgreSQL."""
    from tests.conftest import ON_POSTGRES

    if ON_POSTGRES:
        return request.getfixturevalue("migrated_db_url")
    target = tmp_path / "marketbridge.sqlite"
    shutil.copyfile(refunds_template_db, target)
    return f"sqlite:///{target}"


ADDRESS = {"firstname": "Ada", "lastname": "Lovelace", "street": ["1 Sloane Square"], "city": "London",
           "postcode": "SW1W 8EL", "country_id": "GB", "telephone": "02070000000"}
PRICES = {"MB-000001": 107.45, "MB-000006": 82.32, "MB-000015": 294.87, "MB-000016": 252.97}


@dataclass
class Scenario:
    order_id: str
    line_ids: list[str]
    magento_order_id: int
    item_ids: dict[str, int]  # sku -> Magento order item id


def place_marketplace_order(mirakl_url: str, lines: list[tuple[str, int]], shipping: float) -> tuple[str, list[str]]:
    body = {"lines": [{"offer_sku": sku, "quantity": qty, "price": PRICES[sku]} for sku, qty in lines],
            "shipping_price": shipping}
    response = httpx2.post(f"{mirakl_url}/_sandbox/orders", json=body, timeout=10)
    response.raise_for_status()
    data = response.json()
    return data["order_id"], data["order_line_ids"]


def ship_on_marketplace(mirakl: Any, mirakl_url: str, order_id: str, line_ids: list[str]) -> None:
    mirakl.accept_order(order_id, dict.fromkeys(line_ids, True))
    httpx2.post(f"{mirakl_url}/_sandbox/orders/{order_id}/debit", timeout=10).raise_for_status()
    mirakl.update_tracking(order_id, mirakl_models.TrackingRequest(carrier_code="DPD", tracking_number="15501234567"))
    mirakl.ship_order(order_id)


def magento_order(magento: Any, order_id: str, lines: list[tuple[str, int]], shipping: float) -> tuple[int, dict[str, int]]:
    subtotal = round(sum(PRICES[sku] * qty for sku, qty in lines), 2)
    grand = round(subtotal + shipping, 2)
    entity = magento_models.OrderEntity(
        customer_email="ada@example.invalid", base_grand_total=grand, grand_total=grand, subtotal=subtotal,
        base_subtotal=subtotal, shipping_amount=shipping, base_shipping_amount=shipping, ext_order_id=order_id,
        billing_address=magento_models.OrderAddressInput(address_type="billing", **ADDRESS),
        items=[magento_models.OrderItemInput(sku=sku, name=sku, qty_ordered=qty, price=PRICES[sku], row_total=PRICES[sku] * qty)
               for sku, qty in lines],
        payment=magento_models.OrderPaymentInput(method="checkmo"),
        state="processing", status="processing",
    )
    order = magento.create_order_direct(entity)
    magento.invoice_order(order.entity_id)
    order = magento.get_order(order.entity_id)
    return order.entity_id, {item.sku: item.item_id for item in order.top_level_items()}


def shipped_order(mirakl: Any, magento: Any, mirakl_url: str, lines: list[tuple[str, int]],
                  shipping: float = 4.5) -> Scenario:
    order_id, line_ids = place_marketplace_order(mirakl_url, lines, shipping)
    ship_on_marketplace(mirakl, mirakl_url, order_id, line_ids)
    entity_id, item_ids = magento_order(magento, order_id, lines, shipping)
    return Scenario(order_id, line_ids, entity_id, item_ids)


def credit_memo(magento: Any, scenario: Scenario, items: dict[str, int], *, shipping: float = 0.0,
                adjustment_positive: float = 0.0, adjustment_negative: float = 0.0, comment: str | None = None) -> int:
    return magento.refund_order(
        scenario.magento_order_id,
        [magento_models.DocumentItemInput(order_item_id=scenario.item_ids[sku], qty=qty) for sku, qty in items.items()] or None,
        shipping_amount=shipping, adjustment_positive=adjustment_positive, adjustment_negative=adjustment_negative,
        comment=comment,
    )


def marketplace_refunds(mirakl: Any, order_id: str) -> list[mirakl_models.LineRefund]:
    order = mirakl.get_order(order_id)
    return [refund for line in order.order_lines for refund in line.refunds]


def follow(runtime: Any) -> Any:
    """The refunds follow as the default install runs it (issue 20): with the order feed on, the
    follow reads the feed's mirror, so the feed's read comes first (forced: a test does not wait
    for its schedule); with it off, the follow reads OR11 itself."""
    from marketbridge.services import order_feed
    from marketbridge.services import refunds as refund_service

    if runtime.settings.order_feed_enabled:
        read = order_feed.read(runtime, force=True)
        assert read.skipped is None and read.failed == [], read.as_dict()
    return refund_service.follow(runtime)
