"""Real shapes: Adobe's own webhook and I/O Events samples (../shared/reference/magento/samples)
through our receiver, signed as Adobe Commerce / Adobe I/O Events sign them. Each must be answered
the way the documentation's success sample answers, and give the stock flow its SKUs."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.magento.io_events import sign as io_sign
from marketbridge.bootstrap import build_runtime
from marketbridge.sandbox.magento.webhooks import public_pem, sign
from marketbridge.web.app import create_app
from tests.conftest import make_settings, settle_webhooks
from tests.reference import REFERENCE_ROOT, requires_reference
from tests.webhook_records import event_names, hinted_skus

pytestmark = requires_reference
SAMPLES = REFERENCE_ROOT / "magento" / "samples"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
IO_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def client(migrated_db_url, tmp_path):
    commerce, io = tmp_path / "commerce.pub", tmp_path / "io.pem"
    commerce.write_bytes(public_pem(KEY))
    io.write_bytes(public_pem(IO_KEY))
    runtime = build_runtime(make_settings(migrated_db_url, magento_webhook_public_key_file=str(commerce),
                                          adobe_io_public_key_file=str(io)))
    with TestClient(create_app(runtime, start_engine=False)) as test_client:
        test_client.runtime = runtime  # type: ignore[attr-defined]
        yield test_client
    runtime.close()


def to_commerce(client, path: str, payload: dict):
    body = json.dumps(payload).encode()
    response = client.post(path, content=body, headers={"Content-Type": "application/json",
                                                        "x-adobe-commerce-webhook-signature": sign(body, KEY)})
    settle_webhooks(client.app)
    return response


def to_io(client, payload: dict):
    body = json.dumps(payload).encode()
    response = client.post("/webhooks/adobe-io", content=body,
                           headers={"Content-Type": "application/json", "x-adobe-digital-signature-1": io_sign(body, IO_KEY),
                                    "x-adobe-public-key1-path": "/prod/keys/pub-key-sample.pem"})
    settle_webhooks(client.app)
    return response


events = event_names
hints = hinted_skus


def issues(client) -> list[str]:
    with client.runtime.db.session() as s:
        return [i.object_id for i in s.scalars(select(IssueRecord))]


def test_the_plugin_sample_on_its_hook_url_is_answered_as_the_success_sample(client):
    hook = "plugin.magento.quote.api.shipment_estimation.estimate_by_extended_address"
    response = to_commerce(client, f"/webhooks/adobe-commerce/{hook}",
                           sample("webhook-payload-plugin-shipment_estimation-example.json"))
    assert response.status_code == 200 and response.json() == sample("webhook-endpoint-response-success.json")
    assert events(client) == [hook] and issues(client) == []


def test_the_plugin_sample_on_the_bare_url_is_stored_answered_and_raised_once(client):
    payload = sample("webhook-payload-plugin-shipment_estimation-example.json")
    assert to_commerce(client, "/webhooks/adobe-commerce", payload).json() == {"op": "success"}
    assert to_commerce(client, "/webhooks/adobe-commerce", payload).json() == {"op": "success"}
    assert events(client) == ["unrecognised"]
    assert issues(client) == ["unnamed hook (address, cartId, result)"]


def test_the_observer_shape_sample_is_named_by_its_event_name(client):
    payload = sample("webhook-payload-observer-sales_quote_add_item-shape.json")
    assert to_commerce(client, "/webhooks/adobe-commerce", payload).json() == {"op": "success"}
    assert events(client) == [payload["eventName"]]


def test_a_source_items_save_hook_carries_the_request_s_items_and_hints_their_skus(client):
    """``SourceItemsSaveInterface::execute(array $sourceItems)``: the plugin body is the REST
    request's ``sourceItems`` under the PHP parameter name, plus ``subject`` and ``result``."""
    request = sample("source-items-save-request.json")
    payload = {"subject": [], **request, "result": None}
    hook = "plugin.magento.inventory_api.api.source_items_save.execute"
    assert to_commerce(client, f"/webhooks/adobe-commerce/{hook}", payload).status_code == 200
    assert hints(client) == sorted({item["sku"] for item in request["sourceItems"]})
    # filtered to <field name="sourceItems[].sku"/>: the same SKUs, and still named by the URL
    only_skus = {"sourceItems": [{"sku": item["sku"]} for item in request["sourceItems"]]}
    assert to_commerce(client, f"/webhooks/adobe-commerce/{hook}", only_skus).status_code == 200
    assert events(client) == [hook, hook]


def test_the_io_events_product_sample_hints_its_sku(client):
    payload = sample("io-event-observer-catalog_product_save_after.json")
    response = to_io(client, payload)
    assert response.status_code == 200, response.text
    assert events(client) == ["observer.catalog_product_save_after"]
    assert hints(client) == [payload["event"]["data"]["value"]["sku"]]


def test_the_io_events_invoice_sample_without_a_type_is_stored_and_its_skus_hinted(client):
    payload = sample("io-event-observer-sales_order_invoice_save_after.json")
    assert to_io(client, payload).status_code == 200
    assert events(client) == ["unrecognised"]
    skus = {item["sku"] for item in payload["event"]["data"]["value"]["items"] if item.get("sku")}
    assert set(hints(client)) == skus and len(issues(client)) == 1


def test_the_nested_fields_example_as_a_typed_cloud_event(client):
    value = sample("io-event-nested-fields-example.json")
    event = {"specversion": "1.0", "id": "0c2a7c6a-1", "type": "com.adobe.commerce.observer.sales_order_creditmemo_save_after",
             "data": {"value": value}}
    assert to_io(client, event).status_code == 200
    assert events(client) == ["observer.sales_order_creditmemo_save_after"]
    assert hints(client) == sorted(item["sku"] for item in value["items"])
