"""The refunds flow with ``marketbridge run`` up and nobody running a command.

Two orders come in through the real orders flow (accepted by the service, debited by the sandbox,
created in Adobe Commerce by the service) and ship through the real shipments flow. Then, in the
Adobe Commerce sandbox only:

* order A: a partial credit memo (1 of 2) -> a refund of exactly that amount on the marketplace line;
  John Lewis then refunds the other unit itself (an operator refund), and a second credit memo for
  that unit would over-refund -> a finance issue ("already been fully refunded"), nothing sent;
* order B: a full credit memo -> refunded in full, followed to REFUNDED.

The finance report then shows both orders matched (both sides refunded the same amounts).
"""

from __future__ import annotations

import json

import httpx2
import pytest

from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.magento.client import MagentoClient
from tests.e2e.test_orders_e2e import magento_orders_with, sandbox_order, start_service, stop, wait_until
from tests.e2e.test_shipments_e2e import cli, open_issues, order_record_state, warehouse_ship

SKU = "MB-000016"


def place(boxes, qty: int) -> str:
    response = httpx2.post(f"{boxes.mirakl_url}/_sandbox/orders", json={"lines": [{"offer_sku": SKU, "quantity": qty}]})
    assert response.status_code == 201, response.text
    return response.json()["order_id"]


def refunds_on(boxes, order_id: str) -> list[dict]:
    return [r for line in sandbox_order(boxes, order_id)["order_lines"] for r in line["refunds"]]


def or28_calls(boxes) -> int:
    return sum(1 for c in httpx2.get(f"{boxes.mirakl_url}/_sandbox/calls").json() if c["api"] == "OR28")


@pytest.mark.slow
def test_credit_memos_become_refunds_with_nobody_running_a_command(migrated_db_url, fresh_sandboxes, tmp_path):
    boxes = fresh_sandboxes
    log = tmp_path / "service.log"
    service = start_service(migrated_db_url, boxes, log, MARKETBRIDGE_EXECUTOR_ID="e2e-refunds",
                            MARKETBRIDGE_ORDER_CREATION_MODE="direct",
                            MARKETBRIDGE_SHIPMENT_POLL_CRON="*/2 * * * * *",
                            MARKETBRIDGE_REFUND_POLL_CRON="*/2 * * * * *",
                            MARKETBRIDGE_REFUND_FOLLOW_CRON="*/3 * * * * *",
                            MARKETBRIDGE_REFUND_RETRY_SECONDS="1")
    try:
        a, b = place(boxes, 2), place(boxes, 1)
        for order_id in (a, b):
            wait_until(lambda o=order_id: sandbox_order(boxes, o)["order_state"] == "WAITING_DEBIT", 60,
                       f"the service to accept {order_id}", log)
            assert httpx2.post(f"{boxes.mirakl_url}/_sandbox/orders/{order_id}/debit").status_code == 200
        magento = {o: wait_until(lambda o=o: magento_orders_with(boxes, o), 60, f"the Magento order of {o}", log)[0]
                   for o in (a, b)}
        for order_id, order in magento.items():
            wait_until(lambda o=order: MagentoClient(boxes.magento_url, "sandbox-magento-token").get_order(
                o.entity_id).total_invoiced, 30, "the invoice", log)
            warehouse_ship(boxes, order.entity_id, f"1550{order.entity_id:06d}", "DPD UK")
            wait_until(lambda o=order_id: sandbox_order(boxes, o)["order_state"] == "SHIPPED", 60,
                       f"{order_id} to be shipped on the marketplace", log)
        unit = sandbox_order(boxes, a)["order_lines"][0]["price_unit"]

        with MagentoClient(boxes.magento_url, "sandbox-magento-token") as client:
            items = {o: client.get_order(m.entity_id).top_level_items()[0].item_id for o, m in magento.items()}
            client.refund_order(magento[a].entity_id, [magento_models.DocumentItemInput(order_item_id=items[a], qty=1)],
                                shipping_amount=0)
            [partial] = wait_until(lambda: refunds_on(boxes, a), 60, "the partial refund on the marketplace", log)
            assert (partial["amount"], partial["shipping_amount"], partial["quantity"]) == (unit, 0.0, 1)

            # John Lewis refunds the other unit itself; a credit memo for it would refund it twice
            operator = httpx2.post(f"{boxes.mirakl_url}/_sandbox/orders/{a}/operator-refund",
                                   json={"amount": unit, "shipping_amount": 0})
            assert operator.status_code == 201, operator.text
            sent_so_far = or28_calls(boxes)
            client.refund_order(magento[a].entity_id, [magento_models.DocumentItemInput(order_item_id=items[a], qty=1)],
                                shipping_amount=0)
            held = wait_until(lambda: [e for e in open_issues(migrated_db_url, boxes) if e["type"] == "refund_not_sent"],
                              60, "a finance exception for the over-refund", log)
            assert held[0]["owner"] == "finance"
            assert "has already been fully refunded" in held[0]["message"]
            assert or28_calls(boxes) == sent_so_far
            assert len(refunds_on(boxes, a)) == 2

            client.refund_order(magento[b].entity_id, None, shipping_amount=0)
            wait_until(lambda: refunds_on(boxes, b), 60, "the full refund on the marketplace", log)

        wait_until(lambda: all(r["refund_state"] == "REFUNDED" for o in (a, b) for r in refunds_on(boxes, o)), 30,
                   "the refunds to be paid out", log)
        listed = wait_until(lambda: (r := cli(migrated_db_url, boxes, "refunds", "list", "--json")).returncode == 0
                            and (done := [x for x in json.loads(r.stdout) if x["status"] == "refunded"])
                            and {x["order_id"] for x in done} >= {a, b} and done, 60,
                            "our records of both orders to follow the refunds to REFUNDED", log)
        assert {x["order_id"] for x in listed} == {a, b}
        wait_until(lambda: order_record_state(migrated_db_url, b) == "refunded", 30,
                   "the fully refunded order's record to move to refunded", log)
        recorded = [e for e in open_issues(migrated_db_url, boxes) if e["type"] == "marketplace_refund_recorded"]
        assert [e["severity"] for e in recorded] == ["info"]

        month = sandbox_order(boxes, a)["created_date"][:7]
        # The report reads OR11, which the running service's flows read too (one budget a shop,
        # issue 20): a report refused with "Could not read both systems" (OR11 429 after its
        # retries) is asked again, as the person would; one that never succeeds fails the test.
        attempts: list[str] = []

        def a_report():
            result = cli(migrated_db_url, boxes, "finance", "report", "--month", month, "--json")
            if result.returncode != 0:
                attempts.append(result.stderr[-300:])
                return None
            return result

        try:
            report = wait_until(a_report, 90, "a finance report that could read both systems", log)
        except AssertionError as error:
            raise AssertionError(f"{error}\nlast refusal: {attempts[-1] if attempts else '-'}") from None
        rows = {r["order_id"]: r for r in json.loads(report.stdout)["rows"]}
        assert rows[a]["status"] == "matched", rows[a]
        assert rows[b]["status"] == "matched", rows[b]
        assert rows[a]["marketplace_refunded"] == rows[a]["magento_refunded"] == round(2 * unit, 2)
    finally:
        stop(service)
