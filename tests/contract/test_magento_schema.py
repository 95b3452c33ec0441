"""Contract: the sandbox's responses and the client's requests against the official Adobe Commerce
2.4.8 admin schema (Swagger 2.0), and the official sample payloads against the client's models.

Swagger 2.0 schema objects are (almost) JSON Schema draft 4, so a response schema plus the
``definitions`` map validates directly with ``Draft4Validator``; ``$ref``s resolve inside that
document. Where Magento's real output contradicts its own schema (``null`` in "required" string
fields, documented in docs/api-notes.md), the field is made nullable here, by name, and nowhere else.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

import httpx2
import jsonschema
import pytest
import yaml

from marketbridge.adapters.magento import MagentoClient, SearchCriteria
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.magento.client import render_message
from marketbridge.adapters.magento.webhooks import parse_envelope
from marketbridge.sandbox.magento.routes import ROUTES
from marketbridge.sandbox.magento.testing import ADDRESS, TOKEN, running_sandbox
from tests.reference import REFERENCE_ROOT, requires_reference

REFERENCE = REFERENCE_ROOT / "magento"
SCHEMA_FILE = REFERENCE / "admin-schema-2.4.8.yaml"
SAMPLES = REFERENCE / "samples"
pytestmark = requires_reference

# (definition, property): Magento sends null although the schema types the field (see api-notes).
NULLABLE = {
    ("sales-data-order-payment-interface", "account_status"),
    ("sales-data-order-payment-interface", "cc_last4"),
    ("sales-data-order-item-interface", "qty_backordered"),
    ("sales-data-order-interface", "ext_order_id"),
    ("sales-data-order-interface", "customer_id"),
    ("sales-data-order-interface", "quote_id"),
    ("sales-data-order-item-interface", "parent_item_id"),
    ("sales-data-order-item-interface", "quote_item_id"),
    ("sales-data-shipment-interface", "customer_id"),
    ("sales-data-shipment-interface", "shipping_address_id"),
    ("sales-data-shipment-track-interface", "weight"),
    ("sales-data-shipment-track-interface", "qty"),
    ("sales-data-shipment-track-interface", "description"),
    ("sales-data-creditmemo-interface", "invoice_id"),
    ("sales-data-creditmemo-interface", "shipping_address_id"),
    ("sales-data-creditmemo-item-interface", "base_cost"),
    ("quote-data-totals-interface", "weee_tax_applied_amount"),
    ("quote-data-totals-item-interface", "weee_tax_applied_amount"),
    ("quote-data-totals-item-interface", "weee_tax_applied"),
    ("quote-data-total-segment-interface", "area"),
    ("quote-data-cart-interface", "reserved_order_id"),
    ("catalog-inventory-data-stock-item-interface", "low_stock_date"),
    ("framework-attribute-interface", "value"),  # category_ids is an array, booleans appear too
    ("customer-data-customer-interface", "email"),  # carts without a customer: all three null
    ("customer-data-customer-interface", "firstname"),
    ("customer-data-customer-interface", "lastname"),
}
# A custom attribute's value is declared "string" but Magento sends arrays (category_ids) as well.
ANY_VALUE = {("framework-attribute-interface", "value")}


@cache
def schema() -> dict[str, Any]:
    return yaml.load(SCHEMA_FILE.read_text(), Loader=yaml.CSafeLoader)


@cache
def definitions() -> dict[str, Any]:
    defs = copy.deepcopy(schema()["definitions"])
    for name, prop in NULLABLE:
        target = defs[name]["properties"][prop]
        if (name, prop) in ANY_VALUE:
            defs[name]["properties"][prop] = {}
        elif "type" in target:
            target["type"] = [target["type"], "null"]
        else:
            defs[name]["properties"][prop] = {"anyOf": [target, {"type": "null"}]}
    # Magento sends ``parameters`` as an object (named %placeholders) or a list of scalars (%1, %2);
    # the schema's "array of objects" matches neither (see api-notes).
    defs["error-parameters"] = {"type": ["object", "array"]}
    # Cart addresses: region/region_id/region_code are only validated for countries that require a
    # region (not GB); the schema lists them as always required (see api-notes).
    address = defs["quote-data-address-interface"]
    address["required"] = [r for r in address["required"] if not r.startswith("region")]
    return defs


def validate(instance: Any, sub_schema: dict[str, Any]) -> None:
    document = {"definitions": definitions(), **sub_schema}
    jsonschema.Draft4Validator(document).validate(instance)


def _shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template.rstrip("/"))


@cache
def path_index() -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for path in schema()["paths"]:
        index.setdefault(_shape(path), []).append(path)
    return index


def operation(method: str, template: str) -> dict[str, Any]:
    for path in path_index()[_shape(template)]:
        if method.lower() in schema()["paths"][path]:
            return schema()["paths"][path][method.lower()]
    raise KeyError(f"{method} {template} not in the schema")


def response_schema(method: str, template: str) -> dict[str, Any]:
    return operation(method, template)["responses"]["200"]["schema"]


def body_schema(method: str, template: str) -> dict[str, Any]:
    params = [p for p in operation(method, template).get("parameters", []) if p["in"] == "body"]
    return params[0]["schema"]


def template_for(method: str, raw_path: str) -> str:
    path = re.sub(r"^(/index\.php)?/rest/[A-Za-z0-9_]+", "", raw_path.split("?", 1)[0])
    for route in ROUTES:
        if route.method == method and route.pattern.match(path):
            return route.template
    raise AssertionError(f"no route for {method} {raw_path}")


class Recorder(httpx2.BaseTransport):
    """Transport that records every exchange, so each can be checked against the schema."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.exchanges: list[tuple[str, str, bytes, int, bytes]] = []
        self.client_requests: list[tuple[str, str, bytes]] = []
        self.from_client = True

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        response.read()
        raw_path = request.url.raw_path.decode()
        self.exchanges.append(
            (request.method, raw_path, request.content, response.status_code, response.content)
        )
        if request.headers.get("x-recorded-by") != "raw":
            self.client_requests.append((request.method, raw_path, request.content))
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def recorded():
    """Drive every implemented endpoint once through the client and raw HTTP; return exchanges."""
    recorder = Recorder()
    with running_sandbox(products=80) as (server, _app):
        raw = httpx2.Client(
            base_url=f"{server.url}/rest/all",
            headers={"Authorization": f"Bearer {TOKEN}", "x-recorded-by": "raw"},
            transport=recorder,
            timeout=10,
        )
        with MagentoClient(server.url, TOKEN, transport=recorder) as client, raw:
            httpx2.post(
                f"{server.url}/_sandbox/stock", json={"sku": "MB-000001", "qty": 50}
            ).raise_for_status()
            httpx2.post(
                f"{server.url}/_sandbox/stock", json={"sku": "MB-000002", "qty": 50}
            ).raise_for_status()
            list(client.iterate_products(page_size=40))
            client.get_product("MB-CFG-0001")
            client.get_product("MB-BUNDLE-0001")
            client.get_product("MB-ENGRAVED-0001")
            client.configurable_children("MB-CFG-0001")
            client.bundle_options("MB-BUNDLE-0001")
            client.custom_options("MB-ENGRAVED-0001")
            raw.get("/V1/configurable-products/MB-CFG-0001/options/all")
            raw.get("/V1/bundle-products/MB-BUNDLE-0001/children")
            raw.post(
                "/V1/products",
                json={
                    "product": {
                        "sku": "MB-CONTRACT",
                        "name": "Contract",
                        "price": 9.5,
                        "type_id": "simple",
                        "attribute_set_id": 4,
                        "extension_attributes": {"stock_item": {"qty": 4, "is_in_stock": True}},
                    }
                },
            )
            raw.put("/V1/products/MB-CONTRACT", json={"product": {"sku": "MB-CONTRACT", "price": 11}})
            client.stock_item("MB-000001")
            raw.put(
                "/V1/products/MB-000001/stockItems/1", json={"stockItem": {"qty": 50, "is_in_stock": True}}
            )
            client.source_items(["MB-000001", "MB-000002"])
            client.save_source_items(
                [magento_models.SourceItemInput(sku="MB-CONTRACT", source_code="warehouse-2", quantity=2, status=1)]
            )
            raw.post(
                "/V1/inventory/source-items-delete",
                json={
                    "sourceItems": [magento_models.SourceItemRef(sku="MB-CONTRACT", source_code="warehouse-2").payload()]
                },
            )
            client.sources()
            client.stocks()
            client.stock_source_links()
            raw.get("/V1/inventory/stocks/1")
            raw.get("/V1/inventory/sources/default")
            raw.get("/V1/inventory/get-sources-assigned-to-stock-ordered-by-priority/1")
            raw.get("/V1/inventory/stock-resolver/website/base")
            raw.get(
                "/V1/inventory/are-products-salable",
                params={"skus[0]": "MB-000001", "skus[1]": "MB-CFG-0001", "stockId": 1},
            )
            raw.get("/V1/inventory/is-product-salable-for-requested-qty/MB-000001/1/3")
            client.salable_quantity("MB-000001", 1)
            list(client.iterate_export_stock_salable_qty("website", "base", page_size=30))
            client.export_stock_salable_qty(
                "website", "base", SearchCriteria().where("sku", ["MB-000001", "MB-CFG-0001"], "in").page(5)
            )
            client.is_salable("MB-000001", 1)

            address = magento_models.Address(**ADDRESS)
            cart_order = client.create_order_via_cart(
                [magento_models.CartLine(sku="MB-000001", qty=2), magento_models.CartLine(sku="MB-000002", qty=1)],
                shipping_address=address,
                email="c@example.invalid",
                ext_order_id="JL-C-1",
            )
            guest_order = client.create_order_via_cart(
                [magento_models.CartLine(sku="MB-000002", qty=1)],
                shipping_address=address,
                email="g@example.invalid",
                guest=True,
            )
            raw.get("/V1/carts/1")
            client.trial_checkout(magento_models.CartLine(sku="MB-000001", qty=1), address)
            guest_cart = raw.post("/V1/guest-carts").json()
            added = raw.post(f"/V1/guest-carts/{guest_cart}/items",
                             json={"cartItem": {"sku": "MB-000001", "qty": 1, "quote_id": guest_cart}}).json()
            raw.post(f"/V1/guest-carts/{guest_cart}/estimate-shipping-methods", json={"address": ADDRESS})
            raw.get(f"/V1/guest-carts/{guest_cart}/payment-methods")
            raw.delete(f"/V1/guest-carts/{guest_cart}/items/{added['item_id']}")
            direct = client.create_order_direct(
                magento_models.OrderEntity(
                    customer_email="d@example.invalid",
                    base_grand_total=10,
                    grand_total=10,
                    billing_address=magento_models.OrderAddressInput(address_type="billing", **ADDRESS),
                    items=[magento_models.OrderItemInput(sku="MB-000001", name="Direct", qty_ordered=1, price=10)],
                    payment=magento_models.OrderPaymentInput(method="checkmo"),
                )
            )
            client.find_order_by_ext_id("JL-C-1")
            client.get_order(cart_order)
            raw.get("/V1/orders/items", params={"searchCriteria[pageSize]": 5})
            client.add_order_comment(cart_order, "from John Lewis")
            raw.get(f"/V1/orders/{cart_order}/comments")
            raw.get(f"/V1/orders/{cart_order}/statuses")
            client.hold_order(guest_order)
            client.unhold_order(guest_order)
            client.cancel_order(guest_order)
            client.invoice_order(cart_order)
            client.search_invoices(SearchCriteria())
            raw.get("/V1/invoices/1")
            order = client.get_order(cart_order)
            first = order.items[0].item_id
            shipment_id = client.ship_order(
                cart_order,
                items=[magento_models.DocumentItemInput(order_item_id=first, qty=2)],
                tracks=[magento_models.TrackInput(track_number="T-1", title="DPD", carrier_code="dpd")],
                source_code="default",
                comment="Packed",
            )
            client.add_track(shipment_id, cart_order, "T-2", "DPD", "dpd")
            list(client.iterate_shipments())
            client.get_shipment(shipment_id)
            memo = client.refund_order(
                cart_order,
                [magento_models.DocumentItemInput(order_item_id=first, qty=1)],
                shipping_amount=0,
                adjustment_positive=1,
                return_to_stock_items=[first],
                comment="Damaged",
            )
            client.get_creditmemo(memo)
            list(client.iterate_creditmemos())
            client.invoice_order(direct.entity_id)
            client.ship_order(direct.entity_id)
            client.refund_order(direct.entity_id)
            # error bodies
            raw.get("/V1/products/NOPE")
            raw.get("/V1/orders")
            raw.post(
                "/V1/inventory/source-items",
                json={"sourceItems": [{"sku": "", "source_code": "default", "quantity": 1, "status": 1}]},
            )
            raw.post(f"/V1/order/{cart_order}/refund", json={"items": [{"order_item_id": first, "qty": 99}]})
        yield recorder


def test_every_success_response_matches_the_official_schema(recorded):
    checked: set[str] = set()
    for method, raw_path, _body, status, content in recorded.exchanges:
        if status != 200:
            continue
        template = template_for(method, raw_path)
        schema_200 = (
            response_schema(method, template) if "200" in operation(method, template)["responses"] else None
        )
        body = json.loads(content) if content else None
        if schema_200 is None:  # e.g. source-items save: schema declares no body; Magento sends []
            assert body in (None, []), (method, template, body)
        else:
            try:
                validate(body, schema_200)
            except jsonschema.ValidationError as error:
                pytest.fail(f"{method} {template}: {error.message} at {list(error.absolute_path)}")
        checked.add(f"{method} {template}")
    # every route the sandbox implements was exercised, except the two we deliberately skip here
    implemented = {f"{r.method} {r.template}" for r in ROUTES}
    skipped = {
        "DELETE /V1/products/{sku}",
        "DELETE /V1/shipment/track/{id}",
        "DELETE /V1/inventory/stocks/{stockId}",
        "POST /V1/inventory/stocks",
        "PUT /V1/inventory/stocks/{stockId}",
        "POST /V1/inventory/sources",
        "PUT /V1/inventory/sources/{sourceCode}",
        "POST /V1/inventory/stock-source-links",
        "POST /V1/inventory/stock-source-links-delete",
        "GET /V1/stockStatuses/{sku}",
        "PUT /V1/orders/create",
        "POST /V1/customers/{customerId}/carts",
        "POST /V1/invoice/{invoiceId}/refund",
        "PUT /V1/guest-carts/{cartId}/order",
        "GET /V1/guest-carts/{cartId}",
    }
    assert implemented - skipped <= checked, sorted(implemented - skipped - checked)


def test_error_bodies_match_the_error_response_definition(recorded):
    errors = [(m_, p, json.loads(c)) for m_, p, _b, s, c in recorded.exchanges if s >= 400]
    assert len(errors) >= 4
    for method, path, body in errors:
        validate(body, {"$ref": "#/definitions/error-response"})
        assert "trace" not in body, (method, path)


def test_every_request_the_client_sends_matches_the_request_schema(recorded):
    checked = 0
    for method, raw_path, body in recorded.client_requests:
        if not body:
            continue
        template = template_for(method, raw_path)
        payload = json.loads(body)
        request_schema = body_schema(method, template)
        if template == "/V1/orders" and "entity_id" in payload["entity"]:
            # A partial update (entity_id + increment_id + ext_order_id), not a full order: the
            # schema's "required" list is for creation (see api-notes); types are still checked.
            request_schema = copy.deepcopy(request_schema)
            definitions_copy = copy.deepcopy(definitions()["sales-data-order-interface"])
            definitions_copy.pop("required")
            request_schema["properties"]["entity"] = definitions_copy
            assert set(payload["entity"]) == {"entity_id", "increment_id", "ext_order_id"}
        try:
            validate(payload, request_schema)
        except jsonschema.ValidationError as error:
            pytest.fail(f"{method} {template}: {error.message} at {list(error.absolute_path)}")
        checked += 1
    assert checked >= 15


# --------------------------------------------------------------------------- official samples
def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


READ_SAMPLES = {
    "bundle-options-all-response.json": lambda d: [magento_models.BundleOption.model_validate(o) for o in d],
    "cart-add-bundle-response.json": magento_models.CartItem.model_validate,
    "cart-add-configurable-response.json": magento_models.CartItem.model_validate,
    "cart-add-simple-response.json": magento_models.CartItem.model_validate,
    "cart-shipping-information-response.json": magento_models.PaymentDetails.model_validate,
    "invoice-get-response.json": magento_models.Invoice.model_validate,
    "order-get-response.json": magento_models.Order.model_validate,
    "source-items-search-response.json": magento_models.SearchResult[magento_models.SourceItem].model_validate,
    "sources-assigned-to-stock-response.json": lambda d: [magento_models.Source.model_validate(s) for s in d],
    "stock-resolver-response.json": magento_models.Stock.model_validate,
    "stock-source-links-search-response.json": magento_models.SearchResult[magento_models.StockSourceLink].model_validate,
    "stocks-search-response.json": magento_models.SearchResult[magento_models.Stock].model_validate,
}
# sample file -> (wrapper key of the body or None, request model)
REQUEST_SAMPLES: dict[str, tuple[str | None, type[magento_models.RequestModel]]] = {
    "cart-add-bundle-request.json": ("cartItem", magento_models.CartItemInput),
    "cart-add-configurable-request.json": ("cartItem", magento_models.CartItemInput),
    "cart-add-simple-request.json": ("cartItem", magento_models.CartItemInput),
    "cart-shipping-information-request.json": ("addressInformation", magento_models.AddressInformation),
    "cart-payment-information-request.json": ("paymentMethod", magento_models.PaymentMethod),
    "order-invoice-request.json": (None, magento_models.InvoiceRequest),
    "order-refund-request.json": (None, magento_models.RefundRequest),
    "order-ship-request.json": (None, magento_models.ShipRequest),
    "order-ship-with-source-request.json": (None, magento_models.ShipRequest),
}


@pytest.mark.parametrize("name", sorted(READ_SAMPLES))
def test_official_response_samples_parse_with_the_read_models(name):
    parsed = READ_SAMPLES[name](sample(name))
    assert parsed


def test_order_sample_keeps_shipping_address_and_items():
    order = magento_models.Order.model_validate(sample("order-get-response.json"))
    assert order.shipping_address is not None and order.shipping_address.address_type == "shipping"
    assert (
        order.items[0].sku == "WS12-M-Orange"
        and order.payment is not None
        and order.payment.method == "banktransfer"
    )


@pytest.mark.parametrize("name", sorted(REQUEST_SAMPLES))
def test_official_request_samples_parse_with_the_request_models_and_round_trip(name):
    key, model = REQUEST_SAMPLES[name]
    data = sample(name)
    inner = data[key] if key else data
    assert model.model_validate(inner).payload() == inner


def test_source_item_and_address_samples_parse():
    assert (
        len(
            [
                magento_models.SourceItemInput.model_validate(i)
                for i in sample("source-items-save-request.json")["sourceItems"]
            ]
        )
        == 4
    )
    assert [
        magento_models.SourceItemRef.model_validate(i).sku
        for i in sample("source-items-delete-request.json")["sourceItems"]
    ] == ["new_product1", "new_product2"]
    assert (
        magento_models.Address.model_validate(sample("cart-payment-information-request.json")["billing_address"]).city
        == "Purchase"
    )


def test_error_sample_renders():
    body = sample("error-response-example.json")
    assert (
        render_message(body["message"], body["parameters"])
        == "Invalid product data: Invalid attribute set entity type"
    )


def test_webhook_shape_sample_parses_as_an_envelope():
    event_name, data = parse_envelope(
        (SAMPLES / "webhook-payload-observer-sales_quote_add_item-shape.json").read_bytes()
    )
    assert event_name == "string" and "quote_item" in data


@pytest.mark.parametrize(
    "name",
    [
        "io-event-observer-catalog_product_save_after.json",
        "io-event-observer-sales_order_invoice_save_after.json",
    ],
)
def test_io_event_samples_need_their_type_to_be_routed(name):
    """The saved I/O samples are excerpts without ``event.type``. Issue 14: not refused (a signed
    delivery is never answered with an error): named by their value's fields where those tell (a
    product), else stored as unrecognised; once typed, named by the type."""
    raw = sample(name)
    untyped, _ = parse_envelope(json.dumps(raw).encode())
    assert untyped == ("observer.catalog_product_save_after" if "catalog_product" in name else "unrecognised")
    event_type = "com.adobe.commerce.observer." + name.removeprefix("io-event-observer-").removesuffix(
        ".json"
    )
    raw["event"]["type"] = event_type
    event_name, data = parse_envelope(json.dumps(raw).encode())
    assert event_name == event_type.removeprefix("com.adobe.commerce.") and data["entity_id"]


@pytest.mark.parametrize("name", sorted(READ_SAMPLES))
def test_official_samples_against_the_official_schema(name):
    """Documents where Adobe's samples and Adobe's schema disagree (recorded in api-notes)."""
    template = {
        "bundle-options-all-response.json": ("GET", "/V1/bundle-products/{sku}/options/all"),
        "cart-add-bundle-response.json": ("POST", "/V1/carts/{cartId}/items"),
        "cart-add-configurable-response.json": ("POST", "/V1/carts/{cartId}/items"),
        "cart-add-simple-response.json": ("POST", "/V1/carts/{cartId}/items"),
        "cart-shipping-information-response.json": ("POST", "/V1/carts/{cartId}/shipping-information"),
        "invoice-get-response.json": ("GET", "/V1/invoices/{id}"),
        "order-get-response.json": ("GET", "/V1/orders/{id}"),
        "source-items-search-response.json": ("GET", "/V1/inventory/source-items"),
        "sources-assigned-to-stock-response.json": (
            "GET",
            "/V1/inventory/get-sources-assigned-to-stock-ordered-by-priority/{stockId}",
        ),
        "stock-resolver-response.json": ("GET", "/V1/inventory/stock-resolver/{type}/{code}"),
        "stock-source-links-search-response.json": ("GET", "/V1/inventory/stock-source-links"),
        "stocks-search-response.json": ("GET", "/V1/inventory/stocks"),
    }[name]
    known_mismatch = {"bundle-options-all-response.json"}
    try:
        validate(sample(name), response_schema(*template))
    except jsonschema.ValidationError:
        assert name in known_mismatch, name
    else:
        assert name not in known_mismatch, f"{name} now validates: update api-notes"
