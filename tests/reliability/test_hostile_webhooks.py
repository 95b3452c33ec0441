"""Hostile deliveries to ``POST /webhooks/adobe-commerce``: none crashes the receiver, none is lost.

The receiver is the real web app (``create_app(runtime, start_engine=False)``) on a real, migrated
database. The key pair is generated here; the receiver reads the PEM public key from the inline
setting ``MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY``. Every request goes through a TestClient that
does *not* re-raise server exceptions, so an unhandled error shows up as the 500 a caller would see.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from marketbridge.adapters.db.models.stock import StockHint, WebhookEvent
from marketbridge.bootstrap import build_runtime
from marketbridge.web.app import create_app
from tests.conftest import make_settings, settle_webhooks

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
LIMIT = 200_000
URL = "/webhooks/adobe-commerce"
STOCK_EVENT = "observer.cataloginventory_stock_item_save_commit_after"


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def sign(body: bytes, key: rsa.RSAPrivateKey = KEY) -> str:
    """Adobe Commerce's scheme: base64(RSA-SHA256 PKCS#1 v1.5 over base64(raw body))."""
    return base64.b64encode(key.sign(base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())).decode()


@pytest.fixture(scope="module")
def app_client(module_db_url: str) -> Iterator[TestClient]:
    settings = make_settings(module_db_url, magento_webhook_public_key=public_pem(KEY),
                             webhook_max_body_bytes=LIMIT)
    runtime = build_runtime(settings)
    try:
        with TestClient(create_app(runtime, start_engine=False), raise_server_exceptions=False) as test_client:
            test_client.runtime = runtime  # type: ignore[attr-defined]
            yield test_client
    finally:
        runtime.close()


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The module's app with empty webhook and hint tables."""
    with app_client.runtime.db.session() as session:  # type: ignore[attr-defined]
        session.execute(delete(WebhookEvent))
        session.execute(delete(StockHint))
    return app_client


def post(client: TestClient, body: bytes, signature: str | None = None, **headers: str):
    sent = {"Content-Type": "application/json", **headers}
    if signature is None:
        signature = sign(body)
    if signature:
        sent["x-adobe-commerce-webhook-signature"] = signature
    return client.post(URL, content=body, headers=sent)


def envelope(event: str, data: object) -> bytes:
    return json.dumps({"eventName": event, "data": data}).encode()


def stored(client: TestClient) -> list[WebhookEvent]:
    settle_webhooks(client.app)
    with client.runtime.db.session() as session:  # type: ignore[attr-defined]
        rows = list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
        session.expunge_all()
        return rows


def hinted(client: TestClient) -> set[str]:
    settle_webhooks(client.app)
    with client.runtime.db.session() as session:  # type: ignore[attr-defined]
        return set(session.scalars(select(StockHint.sku)))


def assert_valid_event_still_works(client: TestClient, sku: str = "MB-000042") -> None:
    before = len(stored(client))
    response = post(client, envelope(STOCK_EVENT, {"item": {"sku": sku}}))
    assert response.status_code == 200, response.text
    assert response.json() == {"op": "success"}
    assert len(stored(client)) == before + 1
    assert sku in hinted(client)


def test_unsigned_badly_signed_and_foreign_key_are_401_and_nothing_is_stored(client):
    body = envelope(STOCK_EVENT, {"item": {"sku": "MB-000001"}})
    refusals = [
        post(client, body, signature=""),                              # no header at all
        post(client, body, signature="not base64 at all!!"),           # garbage
        post(client, body, signature=base64.b64encode(b"x" * 256).decode()),  # well-formed, wrong bytes
        post(client, body, signature=sign(body, OTHER_KEY)),           # signed with another key
        post(client, body + b" ", signature=sign(body)),               # body changed after signing
        post(client, body, signature=sign(body) + "A" * 10_000),       # absurdly long header
    ]
    assert [r.status_code for r in refusals] == [401] * len(refusals)
    assert all(r.json()["op"] == "exception" for r in refusals)
    assert stored(client) == [] and hinted(client) == set()
    assert_valid_event_still_works(client)


def test_replayed_event_is_stored_once(client):
    body = envelope(STOCK_EVENT, {"item": {"sku": "MB-000007"}})
    signature = sign(body)
    answers = [post(client, body, signature=signature).status_code for _ in range(5)]
    assert answers == [200] * 5
    assert len(stored(client)) == 1
    assert hinted(client) == {"MB-000007"}
    io_event = json.dumps({"event": {"id": "evt-replay", "type": "com.adobe.commerce." + STOCK_EVENT,
                                     "data": {"value": {"sku": "MB-000008"}}}}).encode()
    # The same I/O Events id with a re-serialised body is still the same event.
    respaced = json.dumps(json.loads(io_event), indent=2).encode()
    assert post(client, io_event).status_code == 200
    assert post(client, respaced).status_code == 200
    assert len(stored(client)) == 2


def test_oversized_body_is_413_and_nothing_is_stored(client):
    huge = envelope(STOCK_EVENT, {"item": {"sku": "MB-000009", "description": "y" * (LIMIT + 10)}})
    assert post(client, huge).status_code == 413
    # A lying Content-Length does not help: the stream is counted as it arrives.
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(huge), 4096):
            yield huge[start:start + 4096]

    response = client.post(URL, content=chunks(), headers={"Content-Type": "application/json",
                                                           "x-adobe-commerce-webhook-signature": sign(huge)})
    assert response.status_code == 413
    assert stored(client) == []
    assert_valid_event_still_works(client)


@pytest.mark.parametrize("shape", ["arrays", "objects", "inside_data"])
def test_deeply_nested_json_is_400_without_a_crash(client, shape):
    depth = 10_000
    if shape == "arrays":
        body = b"[" * depth + b"]" * depth
    elif shape == "objects":
        body = b'{"a":' * depth + b"1" + b"}" * depth
    else:
        body = (b'{"eventName":"' + STOCK_EVENT.encode() + b'","data":{"x":' + b"[" * depth + b"]" * depth
                + b"}}")
    assert len(body) < LIMIT
    response = post(client, body)
    assert response.status_code == 400, response.text
    assert "nest" in response.json()["message"]
    assert stored(client) == []
    assert_valid_event_still_works(client)


def test_moderately_deep_data_is_refused_before_it_reaches_any_handler(client):
    """Below the interpreter's recursion limit, but far deeper than any real Commerce payload."""
    nested: object = {"sku": "MB-000010"}
    for _ in range(200):
        nested = {"child": nested}
    response = post(client, envelope(STOCK_EVENT, nested))
    assert response.status_code == 400
    assert stored(client) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b'{"eventName": "observer.catalog_product_save_after", "data": {"n": 1' + b"0" * 5000 + b"}}",
        b"\xff\xfe\x00garbage",
        '{"eventName": "observer.catalog_product_save_after", "data": {}}'.encode("utf-16"),
    ],
    ids=["empty", "broken", "huge-int", "binary", "utf16"],
)
def test_a_body_that_is_not_json_is_a_clear_400_and_nothing_is_stored(client, body):
    """Adobe Commerce sends JSON (RFC 8259: UTF-8); a signed body that is not is no delivery of its."""
    response = post(client, body)
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.json()["op"] == "exception" and response.json()["message"]
    assert stored(client) == []


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'[{"eventName": "observer.catalog_product_save_after", "data": {}}]',
        b'"just a string"',
        b"null",
        b"12345",
        b'{"eventName": 12, "data": {}}',
        b'{"eventName": ["observer.catalog_product_save_after"], "data": {}}',
        b'{"eventName": "", "data": {}}',
        b'{"eventName": "observer.catalog_product_save_after", "data": [1, 2, 3]}',
        b'{"eventName": "observer.catalog_product_save_after", "data": "sku"}',
        b'{"event": {"type": 5, "data": {"value": {}}}}',
        b'{"event": "not an object"}',
    ],
    ids=["empty-array", "array-of-envelopes", "string", "null", "number", "int-name", "list-name", "empty-name",
         "list-data", "string-data", "io-int-type", "io-string-event"],
)
def test_signed_json_of_an_unexpected_shape_is_stored_and_answered_success(client, body):
    """Issue 14: a signed delivery is never answered with an error: a *required* hook (the
    default) that gets one aborts the merchant's save in Adobe Commerce. JSON of a shape we do
    not expect is stored, answered success, and (when no rule names it) raised for Ecommerce."""
    response = post(client, body)
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.json() == {"op": "success"}
    rows = stored(client)
    assert len(rows) == 1 and rows[0].handled_at is not None and not rows[0].error


@pytest.mark.parametrize(
    "event, data",
    [
        ("observer.sales_order_shipment_save_after", {"shipment": {"entity_id": "not-a-number", "order_id": None}}),
        ("observer.sales_order_shipment_track_save_after", {"track": [1, 2, 3]}),
        ("observer.sales_order_creditmemo_save_after", {"creditmemo": {"entity_id": {"nested": True}}}),
        ("observer.sales_order_creditmemo_save_after", {"creditmemo": None}),
        (STOCK_EVENT, {"item": {"sku": 12345, "qty": "lots"}}),
        (STOCK_EVENT, {"item": {"sku": None}}),
        ("observer.catalog_product_save_after", {"product": {"sku": ["a", "b"], "price": "free"}}),
        ("observer.sales_order_place_after", {"order": {"items": "none", "entity_id": "x"}}),
        ("observer.unknown_event_we_never_subscribed_to", {"anything": [None, True, 1.5]}),
    ],
)
def test_wrong_types_inside_a_valid_envelope_are_stored_and_never_a_500(client, event, data):
    response = post(client, envelope(event, data))
    assert response.status_code == 200, response.text
    rows = stored(client)
    assert len(rows) == 1 and rows[0].event_name == event
    assert hinted(client) == set()  # no SKU was made up from the wrong types
    assert_valid_event_still_works(client)


def test_unicode_and_very_long_skus_in_an_event_do_not_lose_the_good_ones(client):
    long_sku = "L" * 300
    data = {"sourceItems": [{"sku": "MB-000011", "quantity": 1}, {"sku": "Ünïcødé-ß-🙂", "quantity": 2},
                            {"sku": long_sku, "quantity": 3}, {"sku": "\u202eRTL"}]}
    response = post(client, envelope("plugin.inventory_api.api.source_items_save.execute", data))
    assert response.status_code == 200, response.text
    rows = stored(client)
    assert len(rows) == 1  # stored before anything acted on it: nothing received is lost
    hints = hinted(client)
    assert {"MB-000011", "Ünïcødé-ß-🙂", "\u202eRTL"} <= hints
    assert long_sku not in hints or rows[0].handled_at is not None


def test_lone_surrogates_and_nul_bytes_do_not_crash_the_receiver(client):
    body = b'{"eventName": "' + STOCK_EVENT.encode() + b'", "data": {"item": {"sku": "MB-\\ud800-\\u0000"}}}'
    response = post(client, body)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert len(stored(client)) == 1
    assert_valid_event_still_works(client)


def test_an_event_whose_handler_fails_is_kept_and_handled_later(client):
    """A handler that blows up on a hostile payload must not lose the event: it stays stored with its
    error, the sender still gets 200 (a non-2xx would abort the merchant's action in Commerce), and
    the redispatch handles it once the handler copes."""
    from marketbridge.services import webhooks as webhook_service
    from marketbridge.services.webhook_intake import DISPATCH_ATTEMPTS

    calls: list[dict] = []
    broken = {"on": True}

    def fragile(session, name, data):
        calls.append(data)
        if broken["on"]:
            raise ValueError("cannot digest " + str(data)[:50])

    client.runtime.webhook_handlers.add("observer.reliability_fragile", fragile)  # type: ignore[attr-defined]
    response = post(client, envelope("observer.reliability_fragile_save_after", {"weird": [None, {"x": "y"}]}))
    assert response.status_code == 200
    [row] = stored(client)
    assert row.handled_at is None and "cannot digest" in row.error and row.attempts >= 1
    broken["on"] = False
    done = webhook_service.redispatch_unhandled(client.runtime.db.session,  # type: ignore[attr-defined]
                                                handlers=client.runtime.webhook_handlers,  # type: ignore[attr-defined]
                                                older_than_seconds=-1)
    assert done >= 1
    [row] = stored(client)
    assert row.handled_at is not None and row.error == ""
    # the receiver tried it DISPATCH_ATTEMPTS times at once, then the redispatch once more
    assert len(calls) == DISPATCH_ATTEMPTS + 1


@pytest.mark.parametrize("key_pem", [
    b"not a pem at all",
    b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    "ec",
    b"",
])
def test_a_misconfigured_public_key_refuses_everything_without_raising(key_pem):
    """A wrong key setting (garbage, truncated, an EC key, empty) must mean "refuse", never a 500."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from marketbridge.adapters.magento.webhooks import verify_signature

    if key_pem == "ec":
        key_pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = envelope(STOCK_EVENT, {"item": {"sku": "MB-1"}})
    assert verify_signature(body, sign(body), key_pem) is False
    assert verify_signature(body, sign(body), public_pem(KEY).encode()) is True
