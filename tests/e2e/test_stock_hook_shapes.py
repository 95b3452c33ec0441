"""As `marketbridge run` would, with the 5-minute poll off (hourly here): a stock change made in
Adobe Commerce reaches the marketplace offer through each way Commerce can tell us, as the
simulator sends them by default (docs/setup/adobe-commerce.md):

* a signed *plugin* hook (``SourceItemsSaveInterface::execute``: the method's arguments, no
  ``eventName``) on its own URL;
* a signed *observer* hook (``catalog_product_save_after``: ``{"eventName", "data"}``), the only
  hook registered;
* an Adobe I/O Events delivery (a CloudEvent with RSA digital signatures);
* an observer hook delivered before Adobe Commerce commits the save (``*_save_after``): the first
  re-read sees the old value, and the second read (``webhook_recheck_seconds``) the new one.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest

from marketbridge.bootstrap import build_runtime
from marketbridge.sandbox.catalogue import seed_catalogue
from marketbridge.sandbox.server import free_port, serve_in_thread
from marketbridge.services.stock.push import import_interval
from marketbridge.web.app import create_app
from tests.conftest import make_settings, start_sandboxes
from tests.waiting import wait_until

TOKEN = {"Authorization": "Bearer sandbox-magento-token"}
PRODUCT_SAVE = "observer.catalog_product_save_after"




def a_sku() -> str:
    return next(p.sku for p in seed_catalogue(120, 7)
                if p.type_id == "simple" and p.marketplace_sku == p.sku and p.status == 1 and p.manage_stock)


def run_service(migrated_db_url, tmp_path, sandbox: dict[str, Any], path: str, **settings: Any):
    port = free_port()
    key_path = tmp_path / "magento-webhook.pem"
    boxes = start_sandboxes(webhook_url=f"http://127.0.0.1:{port}{path}", webhook_private_key_path=str(key_path),
                            **sandbox)
    values = make_settings(migrated_db_url, boxes, magento_webhook_public_key_file=str(key_path) + ".pub",
                           adobe_io_public_key_file=str(key_path) + ".pub", adobe_io_client_id="sandbox-client-id",
                           stock_push_cron="* * * * * *", stock_poll_cron="0 0 * * * *",
                           sweeper_cron="0 0 * * * *", **settings)
    runtime = build_runtime(values)
    server = serve_in_thread(create_app(runtime, start_engine=True, schedules=True), port=port)
    return boxes, runtime, server


def salable(boxes, sku: str) -> float:
    return httpx2.get(f"{boxes.magento_url}/rest/all/V1/inventory/get-product-salable-quantity/{sku}/1",
                      headers=TOKEN).json()


def offer_quantity(boxes, sku: str) -> Any:
    return httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/{sku}").json()["quantity"]


def save_source_item(boxes, sku: str, qty: int) -> None:
    response = httpx2.post(f"{boxes.magento_url}/rest/all/V1/inventory/source-items", headers=TOKEN,
                           json={"sourceItems": [{"sku": sku, "source_code": "default", "quantity": qty, "status": 1}]})
    assert response.status_code == 200, response.text


def save_product_stock(boxes, sku: str, qty: int) -> None:
    body = {"product": {"sku": sku, "extension_attributes": {"stock_item": {"qty": qty, "is_in_stock": True}}}}
    response = httpx2.put(f"{boxes.magento_url}/rest/all/V1/products/{sku}", headers=TOKEN, json=body, timeout=30)
    assert response.status_code == 200, response.text


CASES = {
    "plugin": ({}, "/webhooks/adobe-commerce", save_source_item),
    "observer": ({"webhook_hooks": {PRODUCT_SAVE}}, "/webhooks/adobe-commerce", save_product_stock),
    "io_events": ({"webhook_mode": "io_events"}, "/webhooks/adobe-io", save_source_item),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_stock_change_moves_the_offer_without_the_poll(migrated_db_url, tmp_path, case):
    sandbox, path, change = CASES[case]
    boxes, runtime, server = run_service(migrated_db_url, tmp_path, sandbox, path)
    try:
        sku = a_sku()
        began = time.monotonic()
        change(boxes, sku, 777)
        expected = salable(boxes, sku)
        assert expected > 0
        wait_until(lambda: offer_quantity(boxes, sku) == expected)
        # within the next stock window: one import interval, plus the hook, the read and the import
        assert time.monotonic() - began < import_interval(runtime.settings) + 10
        deliveries = httpx2.get(f"{boxes.magento_url}/_sandbox/state").json()["webhook_deliveries"]
        assert deliveries and all(d["status"] == 200 for d in deliveries), deliveries
    finally:
        server.stop()
        runtime.close()
        boxes.stop()


def test_a_save_after_hook_delivered_before_the_commit_is_read_again(migrated_db_url, tmp_path):
    """The hook reaches us while the save is not committed: the re-read at once sees the old
    quantity. Without the second read the offer keeps it until the poll (off here)."""
    sandbox = {"webhook_hooks": {PRODUCT_SAVE}, "commit_after_webhook": True, "commit_delay_seconds": 1.5}
    boxes, runtime, server = run_service(migrated_db_url, tmp_path, sandbox, "/webhooks/adobe-commerce",
                                         webhook_recheck_seconds=3.0)
    try:
        sku = a_sku()
        before = salable(boxes, sku)
        save_product_stock(boxes, sku, 555)
        expected = salable(boxes, sku)
        assert expected != before
        wait_until(lambda: offer_quantity(boxes, sku) == expected, timeout=30)
        reads = [c for c in httpx2.get(f"{boxes.magento_url}/_sandbox/calls").json()
                 if sku in c["path"] and "salable" in c["path"]]
        assert len(reads) >= 3, reads  # ours: the one at once (old value), the second read; and the test's
    finally:
        server.stop()
        runtime.close()
        boxes.stop()
