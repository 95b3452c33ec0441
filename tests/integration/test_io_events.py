"""/webhooks/adobe-io: Adobe I/O Events deliveries as they arrive (CloudEvents, the challenge
handshake, RSA digital signatures over the raw body against locally configured keys)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from marketbridge.adapters.magento.io_events import sign
from marketbridge.bootstrap import build_runtime
from marketbridge.sandbox.magento.hook_shapes import cloud_event
from marketbridge.sandbox.magento.webhooks import public_pem
from marketbridge.sandbox.magento.webhooks import sign as commerce_sign
from marketbridge.web.app import create_app
from tests.conftest import make_settings, settle_webhooks
from tests.webhook_records import event_names, hinted_skus

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NEXT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CLIENT_ID = "4566206088344b4e8d5e2b4ea5ab2a17"


@pytest.fixture
def client(migrated_db_url, tmp_path):
    keys = tmp_path / "io-keys"
    keys.mkdir()
    (keys / "pub-key-one.pem").write_bytes(public_pem(KEY))  # a directory of the two keys Adobe names
    (keys / "pub-key-two.pem").write_bytes(public_pem(NEXT_KEY))
    commerce = tmp_path / "commerce.pub"
    commerce.write_bytes(public_pem(OTHER_KEY))
    runtime = build_runtime(make_settings(migrated_db_url, adobe_io_public_key_file=str(keys),
                                          adobe_io_client_id=CLIENT_ID,
                                          magento_webhook_public_key_file=str(commerce)))
    with TestClient(create_app(runtime, start_engine=False)) as test_client:
        test_client.runtime = runtime  # type: ignore[attr-defined]
        yield test_client
    runtime.close()


def stock_event(sku: str = "MB-000001", **overrides) -> dict:
    event = cloud_event("plugin.magento.inventory_api.api.source_items_save.execute",
                        {"sourceItems": [{"sku": sku, "source_code": "default", "quantity": 4, "status": 1}]},
                        client_id=CLIENT_ID)
    return {**event, **overrides}


def deliver(client, body: bytes, *, first=KEY, second=NEXT_KEY, extra: dict | None = None):
    headers = {"Content-Type": "application/json",
               "x-adobe-public-key1-path": "/prod/keys/pub-key-one.pem",
               "x-adobe-public-key2-path": "/prod/keys/pub-key-two.pem"}
    if first is not None:
        headers["x-adobe-digital-signature-1"] = sign(body, first)
    if second is not None:
        headers["x-adobe-digital-signature-2"] = sign(body, second)
    headers.update(extra or {})
    response = client.post("/webhooks/adobe-io", content=body, headers=headers)
    settle_webhooks(client.app)
    return response


stored = event_names
hinted = hinted_skus


def test_the_challenge_is_answered_with_its_value(client):
    response = client.get("/webhooks/adobe-io", params={"challenge": "8ec8d794-e0ab-42df-9017-e3dada8e84f7"})
    assert response.status_code == 200
    assert response.json() == {"challenge": "8ec8d794-e0ab-42df-9017-e3dada8e84f7"}


def test_a_signed_cloud_event_is_stored_named_by_its_type_and_hinted(client):
    body = json.dumps(stock_event()).encode()
    response = deliver(client, body)
    assert response.status_code == 200 and response.json() == {"op": "success"}
    assert stored(client) == ["plugin.magento.inventory_api.api.source_items_save.execute"]
    assert hinted(client) == ["MB-000001"]


def test_either_signature_is_enough_while_adobe_rotates_its_keys(client):
    assert deliver(client, json.dumps(stock_event("MB-000002")).encode(), first=OTHER_KEY).status_code == 200
    assert deliver(client, json.dumps(stock_event("MB-000003")).encode(), second=None).status_code == 200
    assert hinted(client) == ["MB-000002", "MB-000003"]


def test_unsigned_wrongly_signed_or_tampered_deliveries_are_refused(client):
    body = json.dumps(stock_event()).encode()
    assert deliver(client, body, first=None, second=None).status_code == 401
    assert deliver(client, body, first=OTHER_KEY, second=OTHER_KEY).status_code == 401
    tampered = body.replace(b"MB-000001", b"MB-000009")
    headers = {"x-adobe-digital-signature-1": sign(body, KEY)}
    assert client.post("/webhooks/adobe-io", content=tampered, headers=headers).status_code == 401
    # the Commerce webhook signature (over base64 of the body) is not an I/O Events signature
    commerce = {"x-adobe-commerce-webhook-signature": commerce_sign(body, OTHER_KEY)}
    assert client.post("/webhooks/adobe-io", content=body, headers=commerce).status_code == 401
    assert stored(client) == []


def test_a_delivery_for_another_client_id_is_refused(client):
    body = json.dumps(stock_event(recipient_client_id="someone-else")).encode()
    assert deliver(client, body).status_code == 401
    assert stored(client) == []


def test_a_batch_is_stored_event_by_event_and_a_redelivery_by_id_once(client):
    one, two = stock_event("MB-000004"), stock_event("MB-000005")
    assert deliver(client, json.dumps([one, two]).encode()).status_code == 200
    again = json.dumps({**one, "time": "2026-01-01T00:00:00.000Z"}).encode()  # same id, other bytes
    assert deliver(client, again, extra={"x-adobe-retry-count": "1"}).status_code == 200
    assert len(stored(client)) == 2
    assert hinted(client) == ["MB-000004", "MB-000005"]


def test_an_observer_event_value_is_searched_for_skus(client):
    """A product save's value is the product's own data (sample io-event-observer-catalog_product_save_after)."""
    event = cloud_event("observer.catalog_product_save_after", {"sku": "MB-000006", "type_id": "simple"},
                        client_id=CLIENT_ID)
    assert deliver(client, json.dumps(event).encode()).status_code == 200
    assert stored(client) == ["observer.catalog_product_save_after"] and hinted(client) == ["MB-000006"]


def test_no_key_configured_refuses_everything(migrated_db_url):
    runtime = build_runtime(make_settings(migrated_db_url))
    try:
        with TestClient(create_app(runtime, start_engine=False)) as test_client:
            body = json.dumps(stock_event()).encode()
            response = test_client.post("/webhooks/adobe-io", content=body,
                                        headers={"x-adobe-digital-signature-1": sign(body, KEY)})
            assert response.status_code == 401
    finally:
        runtime.close()
