"""As `marketbridge run` would: engine with schedules and the web app up; a stock change made
through the Magento REST API reaches the marketplace offer without anyone calling a service."""

from __future__ import annotations

import httpx2
import pytest

from marketbridge.bootstrap import build_runtime
from marketbridge.sandbox.catalogue import seed_catalogue
from marketbridge.sandbox.server import free_port, serve_in_thread
from marketbridge.services.stock.state import sku_view
from marketbridge.web.app import create_app
from tests.conftest import make_settings, start_sandboxes
from tests.waiting import wait_until


@pytest.fixture
def service(migrated_db_url, tmp_path):
    port = free_port()
    key_path = tmp_path / "magento-webhook.pem"
    boxes = start_sandboxes(webhook_url=f"http://127.0.0.1:{port}/webhooks/adobe-commerce",
                            webhook_private_key_path=str(key_path))
    settings = make_settings(migrated_db_url, boxes, magento_webhook_public_key_file=str(key_path) + ".pub",
                             stock_push_cron="* * * * * *", stock_poll_cron="0 0 * * * *", sweeper_cron="0 0 * * * *")
    runtime = build_runtime(settings)
    server = serve_in_thread(create_app(runtime, start_engine=True, schedules=True), port=port)
    try:
        yield boxes, runtime
    finally:
        server.stop()
        runtime.close()
        boxes.stop()


def test_a_magento_stock_change_reaches_the_offer_by_itself(service):
    boxes, runtime = service
    sku = next(p.sku for p in seed_catalogue(120, 7)
               if p.type_id == "simple" and p.marketplace_sku == p.sku and p.status == 1 and p.manage_stock)
    response = httpx2.post(
        f"{boxes.magento_url}/rest/all/V1/inventory/source-items",
        headers={"Authorization": "Bearer sandbox-magento-token"},
        json={"sourceItems": [{"sku": sku, "source_code": "default", "quantity": 777, "status": 1}]},
    )
    assert response.status_code == 200, response.text
    expected = httpx2.get(f"{boxes.magento_url}/rest/all/V1/inventory/get-product-salable-quantity/{sku}/1",
                          headers={"Authorization": "Bearer sandbox-magento-token"}).json()
    wait_until(lambda: httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/{sku}").json()["quantity"] == expected)

    def published():
        with runtime.db.session() as session:
            view = sku_view(session, sku)
        return view if view and view.stock.result == "ok" else None

    view = wait_until(published)
    assert view.stock.published_qty == expected
    assert view.stock.import_id and view.stock.latency_seconds >= 0
