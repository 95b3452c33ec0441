"""The shipments flow with ``marketbridge run`` up and nobody running a command.

Orders come in through the real orders flow (the service accepts them; the sandbox debits; the
service creates the Adobe Commerce orders). The warehouse then ships them in the Magento sandbox:

* a track titled like a carrier on the SH21 list → the marketplace order becomes SHIPPED with
  that tracking number, and our order record moves to shipped;
* a track with a carrier that maps to nothing → the marketplace order stays in SHIPPING and an
  open ``carrier_unmapped`` issue for Ops shows in ``marketbridge exceptions list --json``;
  mapping that carrier (``marketbridge carriers map``) then ships it, with nobody else acting.
"""

from __future__ import annotations

import json
import subprocess

import httpx2
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.test_orders_e2e import (
    magento_orders_with,
    place_stocked_order,
    sandbox_order,
    start_service,
    stop,
    wait_until,
)


def cli(db_url: str, boxes, *args: str) -> subprocess.CompletedProcess:
    """An operator's ``marketbridge ...`` command against the running service's database.

    Run in this process (the service is the separate process under test): a fresh interpreter
    per command spent most of this test's time importing the package."""
    from typer.testing import CliRunner

    from marketbridge.cli.main import app

    env = {"MARKETBRIDGE_DATABASE_URL": db_url, "MARKETBRIDGE_MAGENTO_BASE_URL": boxes.magento_url,
           "MARKETBRIDGE_MIRAKL_BASE_URL": boxes.mirakl_url, "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": "0.01",
           "MARKETBRIDGE_LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return subprocess.CompletedProcess(["marketbridge", *args], result.exit_code, result.stdout, result.stderr)


def warehouse_ship(boxes, magento_order_id: int, track_number: str, title: str) -> dict:
    response = httpx2.post(f"{boxes.magento_url}/_sandbox/ship", json={
        "order_id": magento_order_id, "track_number": track_number, "title": title, "carrier_code": "custom"})
    assert response.status_code == 200, response.text
    return response.json()


def open_issues(db_url: str, boxes) -> list[dict]:
    result = cli(db_url, boxes, "exceptions", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def active_issue_types(db_url: str) -> list[str]:
    """Read straight from the database while waiting (a CLI process per poll is slow); the CLI is
    asked once the condition holds."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(
                "select type from exception_records where state in ('open', 'acknowledged')")).scalars())
    finally:
        engine.dispose()


def order_record_state(db_url: str, order_id: str) -> str | None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("select state from marketplace_orders where order_id = :o"), {"o": order_id}).scalar()
    finally:
        engine.dispose()


@pytest.mark.slow
def test_shipments_flow_to_the_marketplace_with_nobody_running_a_command(migrated_db_url, fresh_sandboxes, tmp_path):
    boxes = fresh_sandboxes
    log = tmp_path / "service.log"
    service = start_service(migrated_db_url, boxes, log, MARKETBRIDGE_EXECUTOR_ID="e2e-shipments",
                            MARKETBRIDGE_SHIPMENT_POLL_CRON="*/2 * * * * *",
                            MARKETBRIDGE_SHIPMENT_WATCH_CRON="*/5 * * * * *")
    try:
        known, unknown = place_stocked_order(boxes), place_stocked_order(boxes)
        for order_id in (known, unknown):
            wait_until(lambda o=order_id: sandbox_order(boxes, o)["order_state"] == "WAITING_DEBIT", 60,
                       f"the service to accept {order_id}", log)
            assert httpx2.post(f"{boxes.mirakl_url}/_sandbox/orders/{order_id}/debit").status_code == 200
        magento = {o: wait_until(lambda o=o: magento_orders_with(boxes, o), 60, f"the Magento order of {o}", log)[0]
                   for o in (known, unknown)}

        warehouse_ship(boxes, magento[known].entity_id, "15501234567890", "DPD UK")
        warehouse_ship(boxes, magento[unknown].entity_id, "SPD-000042", "Speedy Couriers")

        shipped = wait_until(lambda: (o := sandbox_order(boxes, known))["order_state"] == "SHIPPED" and o, 60,
                             "the marketplace order to be SHIPPED", log)
        assert shipped["shipping_tracking"] == "15501234567890"
        assert shipped["shipping_carrier_code"] == "DPD"
        wait_until(lambda: order_record_state(migrated_db_url, known) == "shipped", 30,
                   "our order record to move to shipped", log)

        wait_until(lambda: "carrier_unmapped" in active_issue_types(migrated_db_url), 60,
                   "a carrier_unmapped exception", log)
        unmapped = [e for e in open_issues(migrated_db_url, boxes) if e["type"] == "carrier_unmapped"]
        assert unmapped[0]["owner"] == "ops" and unmapped[0]["state"] == "open"
        assert "Speedy Couriers" in unmapped[0]["message"]
        assert sandbox_order(boxes, unknown)["order_state"] == "SHIPPING"

        mapped = cli(migrated_db_url, boxes, "carriers", "map", "--code", "custom", "--title", "Speedy Couriers",
                     "YODEL")
        assert mapped.returncode == 0, mapped.stderr + mapped.stdout
        shipped = wait_until(lambda: (o := sandbox_order(boxes, unknown))["order_state"] == "SHIPPED" and o, 60,
                             "the released shipment to ship the order", log)
        assert shipped["shipping_carrier_code"] == "YODEL" and shipped["shipping_tracking"] == "SPD-000042"
        wait_until(lambda: "carrier_unmapped" not in active_issue_types(migrated_db_url), 30,
                   "the carrier_unmapped exception to resolve itself", log)
    finally:
        stop(service)


@pytest.mark.slow
def test_webhooks_send_shipments_and_tracks_added_later_without_waiting_for_the_poll(migrated_db_url, tmp_path):
    """Magento's signed webhooks (shipment save, track save) drive the sends; the poll is hourly."""
    from tests.conftest import start_sandboxes
    from tests.e2e.test_orders_e2e import free_port

    port = free_port()
    key = tmp_path / "magento-webhooks.pem"
    boxes = start_sandboxes(webhook_url=f"http://127.0.0.1:{port}/webhooks/adobe-commerce",
                            webhook_private_key_path=str(key))
    log = tmp_path / "service.log"
    service = start_service(migrated_db_url, boxes, log, MARKETBRIDGE_EXECUTOR_ID="e2e-shipments-hooks",
                            MARKETBRIDGE_WEB_PORT=str(port),
                            MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY_FILE=str(key) + ".pub",
                            MARKETBRIDGE_SHIPMENT_POLL_CRON="0 0 * * * *")
    try:
        order_id = place_stocked_order(boxes)
        wait_until(lambda: sandbox_order(boxes, order_id)["order_state"] == "WAITING_DEBIT", 60, "acceptance", log)
        assert httpx2.post(f"{boxes.mirakl_url}/_sandbox/orders/{order_id}/debit").status_code == 200
        magento = wait_until(lambda: magento_orders_with(boxes, order_id), 60, "the Magento order", log)[0]

        shipment = httpx2.post(f"{boxes.magento_url}/_sandbox/ship", json={"order_id": magento.entity_id}).json()
        wait_until(lambda: "shipment_tracking_missing" in active_issue_types(migrated_db_url), 30,
                   "a tracking-missing exception", log)
        assert sandbox_order(boxes, order_id)["order_state"] == "SHIPPING"

        from marketbridge.adapters.magento.client import MagentoClient

        with MagentoClient(boxes.magento_url, "sandbox-magento-token") as client:
            client.add_track(shipment["entity_id"], magento.entity_id, "RM123456785GB", "Royal Mail", "custom")
        shipped = wait_until(lambda: (o := sandbox_order(boxes, order_id))["order_state"] == "SHIPPED" and o, 30,
                             "the track webhook to ship the order", log)
        assert shipped["shipping_tracking"] == "RM123456785GB" and shipped["shipping_carrier_code"] == "ROYAL_MAIL"
        assert "shipment_tracking_missing" not in active_issue_types(migrated_db_url)
    finally:
        stop(service)
        boxes.stop()
