"""kill -9 of `marketbridge run`, a stock change in Adobe Commerce while it is down (its webhook
finds nobody), restart: the marketplace offer is right within two stock windows of the moment the
restarted service answers.

Before issue 21 the change waited for the next scheduled poll (every 5 minutes by default; a
soak saw it reach the marketplace 287 s after the restart). The catch-up at start finds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import create_engine, text

from marketbridge.sandbox.catalogue import seed_catalogue
from marketbridge.sandbox.server import free_port
from tests.conftest import TEST_SESSION_SECRET, start_sandboxes
from tests.e2e.test_orders_e2e import stop
from tests.e2e.test_stock_crash import _up, wait_until

ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.1  # Mirakl's once-a-minute import window becomes 6 s
WINDOW = 60 * SCALE
MAGENTO = {"Authorization": "Bearer sandbox-magento-token"}


def salable(boxes, sku: str) -> int:
    return int(httpx2.get(f"{boxes.magento_url}/rest/all/V1/inventory/get-product-salable-quantity/{sku}/1",
                          headers=MAGENTO).json())


def set_source(boxes, sku: str, qty: int) -> None:
    httpx2.post(f"{boxes.magento_url}/rest/all/V1/inventory/source-items", headers=MAGENTO,
                json={"sourceItems": [{"sku": sku, "source_code": "default", "quantity": qty, "status": 1}]}
                ).raise_for_status()


def offer_quantity(boxes, sku: str) -> int | None:
    return httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/{sku}").json().get("quantity")


@pytest.mark.slow
def test_a_change_made_while_the_service_was_down_is_on_the_offer_within_two_windows(migrated_db_url, tmp_path):
    port = free_port()
    key = tmp_path / "webhook.pem"
    boxes = start_sandboxes(webhook_url=f"http://127.0.0.1:{port}/webhooks/adobe-commerce",
                            webhook_private_key_path=str(key))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MARKETBRIDGE_DATABASE_URL": migrated_db_url,
           "MARKETBRIDGE_MAGENTO_BASE_URL": boxes.magento_url, "MARKETBRIDGE_MIRAKL_BASE_URL": boxes.mirakl_url,
           "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": str(SCALE), "MARKETBRIDGE_STOCK_PUSH_CRON": "* * * * * *",
           # the fallback poll once an hour: only the catch-up can find the change in time
           "MARKETBRIDGE_STOCK_POLL_CRON": "0 0 * * * *", "MARKETBRIDGE_PRICE_SYNC_ENABLED": "false",
           "MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY_FILE": str(key) + ".pub", "MARKETBRIDGE_EXECUTOR_ID": "local",
           "MARKETBRIDGE_SESSION_SECRET": TEST_SESSION_SECRET}
    cmd = [sys.executable, "-c", "from marketbridge.cli.main import main; main()", "run", "--port", str(port)]
    db = create_engine(migrated_db_url)

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "service.err", "ab"),  # noqa: SIM115
                                cwd=tmp_path)
        wait_until(lambda: _up(port), timeout=60, every=0.05)
        return proc

    sku = next(p.sku for p in seed_catalogue(120, 7)
               if p.type_id == "simple" and p.marketplace_sku == p.sku and p.status == 1 and p.manage_stock)
    service = start()
    try:
        set_source(boxes, sku, 4242)  # with the service up: the webhook carries it
        before = salable(boxes, sku)
        wait_until(lambda: offer_quantity(boxes, sku) == before, timeout=60)
        wait_until(lambda: _settled(db), timeout=60)
        service.send_signal(signal.SIGKILL)
        service.wait()

        set_source(boxes, sku, 17)  # while down: its webhook finds nobody
        expected = salable(boxes, sku)
        assert expected != before
        dispatcher = boxes.magento_app.state.webhooks
        assert dispatcher.wait_idle(timeout=10)
        assert dispatcher.deliveries[-1]["status"] is None  # never reached the service

        spawned = time.monotonic()
        service = start()
        # Counted from the moment the restarted service listens again (its engine has launched):
        # its own start-up (seconds on a loaded machine, more on PostgreSQL) is not a window.
        listening = time.monotonic()
        wait_until(lambda: offer_quantity(boxes, sku) == expected, timeout=2 * WINDOW, every=0.1)
        took = time.monotonic() - listening
        print(f"offer right {took:.1f} s after the restarted service answered ({listening - spawned:.1f} s "
              f"start-up; two windows: {2 * WINDOW:.0f} s)")
    finally:
        stop(service)
        db.dispose()
        boxes.stop()


def _settled(db) -> bool:
    """Nothing in flight or queued: the kill finds a quiet service."""
    with db.connect() as conn:
        busy = conn.execute(text("select count(*) from sync_outbox")).scalar()
        busy += conn.execute(text("select count(*) from stock_hints")).scalar()
    return busy == 0
