"""As `marketbridge run` would: the engine with its schedules and nobody calling a service.

A simple product created in Adobe Commerce becomes a live offer by itself; the scheduled audit
runs and finds an offer quantity changed directly on the marketplace; an audit with ``fix``
started through the API corrects it through the stock flow."""

from __future__ import annotations

import time

import httpx2
import pytest
from sqlalchemy import select

from marketbridge.adapters.db.models.catalogue import AuditRun, Listing
from marketbridge.adapters.db.models.core import StreamCursor
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.sandbox.server import free_port, serve_in_thread
from marketbridge.services import auth
from marketbridge.web.app import create_app
from tests import waiting
from tests.conftest import make_settings, start_sandboxes

MAGENTO_HEADERS = {"Authorization": "Bearer sandbox-magento-token"}




@pytest.fixture
def service(migrated_db_url):
    boxes = start_sandboxes()
    settings = make_settings(migrated_db_url, boxes, catalogue_publish_cron="* * * * * *",
                             audit_cron="*/4 * * * * *", sweeper_cron="0 0 * * * *",
                             stock_poll_cron="0 0 * * * *", order_poll_cron="0 0 * * * *")
    runtime = build_runtime(settings)
    port = free_port()
    server = serve_in_thread(create_app(runtime, start_engine=True, schedules=True), port=port)
    try:
        yield boxes, runtime, f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        runtime.close()
        boxes.stop()


def test_a_new_product_goes_live_and_the_nightly_audit_finds_and_fixes_drift(service):
    boxes, runtime, base_url = service

    def baseline_taken():
        with runtime.db.session() as session:
            return session.get(StreamCursor, "catalogue.baseline") is not None

    wait_until(baseline_taken)
    time.sleep(1.1)  # Magento timestamps have one-second resolution
    product = {"sku": "E2E-LAMP-1", "name": "Desk Lamp", "price": 35.0, "type_id": "simple", "status": 1,
               "weight": 1.2, "extension_attributes": {"stock_item": {"qty": 9, "is_in_stock": True}},
               "custom_attributes": [{"attribute_code": k, "value": v} for k, v in {
                   "description": "An adjustable desk lamp.", "brand": "Acme", "ean": "5012345678917",
                   "image": "https://images.example.invalid/e2e-lamp-1.jpg", "mb_category_code": "home/lighting",
               }.items()]}
    response = httpx2.post(f"{boxes.magento_url}/rest/V1/products", headers=MAGENTO_HEADERS, json={"product": product})
    assert response.status_code == 200, response.text

    def live():
        with runtime.db.session() as session:
            listing = session.get(Listing, "E2E-LAMP-1")
            return listing is not None and listing.status == "live"

    wait_until(live, timeout=90)
    offer = httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/E2E-LAMP-1").json()
    assert offer["active"] and offer["quantity"] == 9 and offer["price"] == 35.0

    # someone changes the quantity directly on the marketplace
    assert httpx2.put(f"{boxes.mirakl_url}/_sandbox/offers/E2E-LAMP-1", json={"quantity": 50}).status_code == 200
    started = time.time()

    def scheduled_run_with_the_drift():
        with runtime.db.session() as session:
            runs = session.scalars(select(AuditRun).where(AuditRun.trigger == "schedule",
                                                          AuditRun.status == "complete")).all()
            return [r for r in runs if r.started_at.timestamp() >= started and r.counts.get("quantity_mismatch")]

    runs = wait_until(scheduled_run_with_the_drift, timeout=60)
    with runtime.db.session() as session:
        user = auth.create_user(SqlPeopleRepository(session), "ecom", Role.ECOMMERCE, "a long passphrase")
        token = auth.create_token(SqlPeopleRepository(session), user)
    headers = {"Authorization": f"Bearer {token}"}
    detail = httpx2.get(f"{base_url}/api/audit/runs/{runs[0].id}?kind=quantity_mismatch", headers=headers).json()
    assert {"offer_sku": "E2E-LAMP-1", "expected": "9", "actual": "50"}.items() <= next(
        d for d in detail["drifts"] if d["offer_sku"] == "E2E-LAMP-1").items()

    started = httpx2.post(f"{base_url}/api/audit/runs", headers=headers, json={"fix": True})
    assert started.status_code == 202 and started.json()["workflow_id"]
    wait_until(lambda: httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/E2E-LAMP-1").json()["quantity"] == 9,
               timeout=90)
    with runtime.db.session() as session:
        fix_run = session.scalars(select(AuditRun).where(AuditRun.fix.is_(True))).one()
    fixed = httpx2.get(f"{base_url}/api/audit/runs/{fix_run.id}?kind=quantity_mismatch", headers=headers).json()
    row = next(d for d in fixed["drifts"] if d["offer_sku"] == "E2E-LAMP-1")
    assert row["fix_action"] == "stock_outbox"  # one writer: the stock flow sends the correction


def wait_until(predicate, timeout: float = 60.0, every: float = 0.3):
    return waiting.wait_until(predicate, timeout, every)
