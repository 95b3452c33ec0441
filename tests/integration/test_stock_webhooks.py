"""POST /webhooks/adobe-commerce: signature, storage before dispatch, duplicates, limits."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from marketbridge.adapters.db.models.stock import StockHint, WebhookEvent
from marketbridge.bootstrap import build_runtime
from marketbridge.sandbox.magento.webhooks import public_pem, sign
from marketbridge.web.app import create_app
from tests.conftest import make_settings, settle_webhooks

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def client(migrated_db_url, tmp_path):
    pem = tmp_path / "webhook.pub"
    pem.write_bytes(public_pem(KEY))
    runtime = build_runtime(make_settings(migrated_db_url, magento_webhook_public_key_file=str(pem),
                                          webhook_max_body_bytes=4096))
    with TestClient(create_app(runtime, start_engine=False)) as test_client:
        test_client.runtime = runtime  # type: ignore[attr-defined]
        yield test_client
    runtime.close()


def body_of(event: str, data: dict) -> bytes:
    return json.dumps({"eventName": event, "data": data}).encode()


def post(client, body: bytes, key=KEY, signature: str | None = None):
    headers = {"Content-Type": "application/json"}
    sig = signature if signature is not None else sign(body, key)
    if sig:
        headers["x-adobe-commerce-webhook-signature"] = sig
    response = client.post("/webhooks/adobe-commerce", content=body, headers=headers)
    settle_webhooks(client.app)  # the handlers run just after the answer
    return response


def counts(client) -> tuple[int, int]:
    settle_webhooks(client.app)
    with client.runtime.db.session() as s:
        return (s.scalar(select(func.count()).select_from(WebhookEvent)),
                s.scalar(select(func.count()).select_from(StockHint)))


def test_signed_source_item_save_is_stored_and_hints_the_skus(client):
    body = body_of("plugin.inventory_api.api.source_items_save.execute",
                   {"sourceItems": [{"sku": "MB-000001", "source_code": "default", "quantity": 3, "status": 1},
                                    {"sku": "MB-000002", "source_code": "default", "quantity": 0, "status": 0}]})
    response = post(client, body)
    assert response.status_code == 200 and response.json() == {"op": "success"}
    with client.runtime.db.session() as s:
        event = s.scalars(select(WebhookEvent)).one()
        assert event.handled_at is not None and event.body == body.decode()
        assert sorted(s.scalars(select(StockHint.sku))) == ["MB-000001", "MB-000002"]


def test_unsigned_or_badly_signed_is_401_and_nothing_is_stored(client):
    body = body_of("observer.cataloginventory_stock_item_save_commit_after", {"item": {"sku": "MB-000003"}})
    assert post(client, body, signature="").status_code == 401
    assert post(client, body, key=OTHER_KEY).status_code == 401
    assert post(client, body, signature="not-base64!!").status_code == 401
    tampered = body.replace(b"MB-000003", b"MB-000004")
    assert post(client, tampered, signature=sign(body, KEY)).status_code == 401
    assert counts(client) == (0, 0)


def test_duplicates_are_harmless_and_limits_are_enforced(client):
    body = body_of("observer.catalog_product_save_after", {"product": {"sku": "MB-000005", "price": 10}})
    assert post(client, body).status_code == 200
    assert post(client, body).status_code == 200
    assert counts(client) == (1, 1)
    big = body_of("observer.catalog_product_save_after", {"product": {"sku": "X", "description": "y" * 5000}})
    assert post(client, big).status_code == 413
    bad = b"{not json"
    assert post(client, bad).status_code == 400
    assert counts(client) == (1, 1)


def test_other_flows_register_handlers_by_prefix(client):
    seen = []
    client.runtime.webhook_handlers.add("observer.mb_test_shipment", lambda session, name, data: seen.append((name, data)))
    body = body_of("observer.mb_test_shipment_track_save_after", {"track": {"order_id": 7}})
    assert post(client, body).status_code == 200
    assert seen == [("observer.mb_test_shipment_track_save_after", {"track": {"order_id": 7}})]


def test_a_failing_handler_keeps_the_event_for_a_retry(client):
    """The intake tries a failed dispatch again at once (services/webhook_intake.py); a handler
    still failing after that leaves the event, with its error, for the poll's re-dispatch."""
    from marketbridge.services.webhook_intake import DISPATCH_ATTEMPTS

    calls = []
    broken = [True]

    def flaky(session, name, data):
        calls.append(name)
        if broken[0]:
            raise RuntimeError("temporary")

    client.runtime.webhook_handlers.add("observer.mb_test_flaky", flaky)
    assert post(client, body_of("observer.mb_test_flaky_event", {"x": 1})).status_code == 200
    with client.runtime.db.session() as s:
        event = s.scalars(select(WebhookEvent)).one()
        assert event.handled_at is None and "temporary" in event.error
    assert len(calls) == DISPATCH_ATTEMPTS
    broken[0] = False
    from marketbridge.services.webhooks import redispatch_unhandled

    assert redispatch_unhandled(client.runtime.db.session, handlers=client.runtime.webhook_handlers, older_than_seconds=0) == 1
    with client.runtime.db.session() as s:
        assert s.scalars(select(WebhookEvent)).one().handled_at is not None
    assert calls == ["observer.mb_test_flaky_event"] * (1 + DISPATCH_ATTEMPTS)


def test_a_handler_that_fails_once_is_dispatched_again_at_once(client):
    """Scale-out soak on PostgreSQL: a hint upsert was a deadlock victim, and the event waited for
    the poll (off in the soak, every 5 minutes in production). Now the intake tries it again."""
    calls = []

    def deadlocked_once(session, name, data):
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError("deadlock detected")

    client.runtime.webhook_handlers.add("observer.mb_test_once", deadlocked_once)
    assert post(client, body_of("observer.mb_test_once_event", {"x": 1})).status_code == 200
    with client.runtime.db.session() as s:
        event = s.scalars(select(WebhookEvent)).one()
        assert event.handled_at is not None and event.attempts == 2
    assert len(calls) == 2


# --- the shapes Adobe Commerce really sends (issue 14) -----------------------------------------
SOURCE_ITEMS_SAVE = "plugin.magento.inventory_api.api.source_items_save.execute"


def post_to(client, path: str, body: bytes):
    headers = {"Content-Type": "application/json", "x-adobe-commerce-webhook-signature": sign(body, KEY)}
    response = client.post(path, content=body, headers=headers)
    settle_webhooks(client.app)
    return response


def stored(client) -> list[tuple[str, str]]:
    with client.runtime.db.session() as s:
        return [(e.event_name, e.error) for e in s.scalars(select(WebhookEvent).order_by(WebhookEvent.id))]


def hinted(client) -> list[str]:
    with client.runtime.db.session() as s:
        return sorted(s.scalars(select(StockHint.sku)))


def test_plugin_shaped_source_item_save_is_accepted_on_its_hook_url(client):
    """A plugin hook sends the method's arguments, no eventName: it used to be refused with 400,
    which aborts the merchant's save in Adobe Commerce (required hooks are the default)."""
    body = json.dumps({"subject": [], "sourceItems": [
        {"sku": "MB-000001", "source_code": "default", "quantity": 3, "status": 1}], "result": None}).encode()
    response = post_to(client, f"/webhooks/adobe-commerce/{SOURCE_ITEMS_SAVE}", body)
    assert response.status_code == 200 and response.json() == {"op": "success"}
    assert stored(client) == [(SOURCE_ITEMS_SAVE, "")]
    assert hinted(client) == ["MB-000001"]


def test_plugin_and_filtered_bodies_on_the_bare_url_are_named_by_their_shape(client):
    plugin = json.dumps({"subject": [], "sourceItems": [{"sku": "MB-000002"}]}).encode()
    filtered = json.dumps({"product": {"sku": "MB-000003"}}).encode()
    order = json.dumps({"subject": {}, "order": {"items": [{"sku": "MB-000004"}, {"sku": "MB-000005"}]}}).encode()
    for body in (plugin, filtered, order):
        assert post(client, body).json() == {"op": "success"}
    assert [name for name, _ in stored(client)] == [SOURCE_ITEMS_SAVE, "observer.catalog_product_save_after",
                                                    "plugin.magento.sales.api.order_management.place"]
    assert hinted(client) == ["MB-000002", "MB-000003", "MB-000004", "MB-000005"]


def test_a_signed_body_of_unknown_shape_never_aborts_the_merchant_and_is_raised_once(client):
    from marketbridge.adapters.db.models.core import IssueRecord as Issue

    first = json.dumps({"quote_id": "7", "cartId": "21"}).encode()
    second = json.dumps({"quote_id": "8", "cartId": "22"}).encode()
    for body in (first, second, b"[1, 2]"):
        assert post(client, body).json() == {"op": "success"}
    assert [name for name, _ in stored(client)] == ["unrecognised"] * 3
    with client.runtime.db.session() as s:
        issues = [(i.type, i.owner, i.object_id, i.count) for i in s.scalars(select(Issue))]
    assert ("webhook_unrecognised", "ecommerce", "unnamed hook (cartId, quote_id)", 2) in issues
    assert len(issues) == 2  # one per shape, not one per delivery


def test_a_path_that_is_not_a_hook_name_is_named_by_the_body_and_the_signature_comes_first(client):
    """A signed delivery is never refused, even on a mistyped hook URL: the body names it. An
    unsigned one is 401 on any path, so the answer says nothing about which paths are hooks."""
    body = json.dumps({"subject": [], "sourceItems": [{"sku": "MB-000006"}]}).encode()
    for path in ("/webhooks/adobe-commerce/not a hook", f"/webhooks/adobe-commerce/{SOURCE_ITEMS_SAVE}"):
        bad = client.post(path, content=body, headers={"x-adobe-commerce-webhook-signature": sign(body, OTHER_KEY)})
        assert bad.status_code == 401, path
    assert counts(client) == (0, 0)
    answer = post_to(client, "/webhooks/adobe-commerce/not a hook", body)
    assert answer.status_code == 200 and answer.json() == {"op": "success"}
    assert [name for name, _error in stored(client)] == [SOURCE_ITEMS_SAVE]


def test_the_same_arguments_to_two_hooks_are_two_events(client):
    """A before and an after hook of one method send the same arguments: both are stored, each
    under its hook (the dedup key of a hook URL's body includes the hook)."""
    body = json.dumps({"subject": [], "sourceItems": [{"sku": "MB-000007"}]}).encode()
    post_to(client, f"/webhooks/adobe-commerce/{SOURCE_ITEMS_SAVE}", body)
    post_to(client, "/webhooks/adobe-commerce/plugin.magento.inventory_api.api.source_items_save.before", body)
    assert len(stored(client)) == 2
