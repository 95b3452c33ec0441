"""Contract tests: the Mirakl sandbox and client against Mirakl's published seller OpenAPI.

* every sandbox response of every endpoint we implement validates against the operation's
  response schema (``$ref``s inlined; Draft 2020-12, as OpenAPI 3.1 uses);
* every JSON request body the client sends validates against the operation's request schema,
  and multipart uploads carry the parts the schema requires;
* every example payload in the reference folder parses with the client models.

Where the published schema and Mirakl's documented behaviour disagree we follow the behaviour
and say so here (``NULLABLE_REQUIRED`` and :func:`relax`) and in docs/api-notes.md (Mirakl section).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from jsonschema import Draft202012Validator

from marketbridge.adapters.errors import NotFound
from marketbridge.adapters.mirakl import MiraklClient, models
from marketbridge.adapters.mirakl.csvfiles import read_csv, read_csv_cells
from marketbridge.adapters.mirakl.endpoints import ENDPOINTS, resolve
from marketbridge.sandbox.mirakl.app import create_app
from marketbridge.sandbox.server import serve_in_thread
from tests.reference import REFERENCE_ROOT

REFERENCE = REFERENCE_ROOT / "mirakl"
if not REFERENCE.exists():  # CI lays shared/ beside the clone
    REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "mirakl"
SPEC_PATH = REFERENCE / "mirakl-mmp-seller-openapi.json"
pytestmark = pytest.mark.skipif(not SPEC_PATH.exists(), reason="Mirakl reference OpenAPI not available")

KEY = "contract-key"
SCALE = 0.00001  # every call-frequency interval below the sandbox's 20 ms grace

#: Required by the schema but documented (and shown in Mirakl's own examples) as null at times.
NULLABLE_REQUIRED = {
    ("OR11", "billing_address"),  # null until the order is debited / accepted (platform setting)
    ("OR11", "shipping_address"),
    ("OR11", "description"),  # order line description: null in the OR11 example
    # OR15 files hold OR11 orders (same schema, same documented nulls)
    ("OR15", "billing_address"), ("OR15", "shipping_address"), ("OR15", "description"),
}
#: Operations whose spec path differs from where the data really lives.
SPEC_PATHS = {"OF54": ("get", "/dynamic-url/The+URL+is+retrieved+from+OF53+output/OF54"),
              "OR15": ("get", "/dynamic-url/The+URL+is+retrieved+from+OR14+output/OR15")}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def _operation(spec: dict[str, Any], code: str) -> dict[str, Any]:
    if code in SPEC_PATHS:
        method, path = SPEC_PATHS[code]
        return spec["paths"][path][method]
    endpoint = ENDPOINTS[code]
    operation = spec["paths"][endpoint.path.replace("{import_id}", "{import}")
                              if endpoint.path.replace("{import_id}", "{import}") in spec["paths"] else endpoint.path]
    op = operation[endpoint.method.lower()]
    assert op["operationId"] == code, f"{code}: spec has {op['operationId']} at {endpoint.path}"
    return op


def _inline(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    if depth > 40:
        return {}
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].split("/")[-1]
            return _inline(spec, spec["components"]["schemas"][name], depth + 1)
        return {k: _inline(spec, v, depth + 1) for k, v in node.items() if k not in ("example", "examples")}
    if isinstance(node, list):
        return [_inline(spec, v, depth + 1) for v in node]
    return node


def relax(code: str, schema: Any) -> Any:
    """Optional properties may be ``null`` (Mirakl sends null for unset values; the 3.1 schema never
    lists "null"), and the documented-null required properties in ``NULLABLE_REQUIRED`` too."""
    if isinstance(schema, dict):
        schema = {k: relax(code, v) for k, v in schema.items()}
        props = schema.get("properties")
        if isinstance(props, dict):
            required = set(schema.get("required", []))
            for name, sub in list(props.items()):
                if name not in required or (code, name) in NULLABLE_REQUIRED:
                    props[name] = {"anyOf": [sub, {"type": "null"}]}
        return schema
    if isinstance(schema, list):
        return [relax(code, v) for v in schema]
    return schema


def response_validator(spec: dict[str, Any], code: str, status: str, *, item: bool = False) -> Draft202012Validator:
    content = _operation(spec, code)["responses"][status]["content"]["application/json"]
    schema = relax(code, _inline(spec, copy.deepcopy(content["schema"])))
    return Draft202012Validator(schema)


def request_validator(spec: dict[str, Any], code: str) -> Draft202012Validator:
    schema = _operation(spec, code)["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator(_inline(spec, copy.deepcopy(schema)))


def assert_valid(validator: Draft202012Validator, instance: Any, label: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"{label}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:160]}" for e in errors[:8])


# ====================================================================== a recording transport
class RecordingTransport(httpx2.BaseTransport):
    """Forwards to the real sandbox and keeps every request and response for validation."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.exchanges: list[tuple[str | None, httpx2.Request, httpx2.Response]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()  # multipart bodies are streams; keep a copy to validate
        response = self.inner.handle_request(request)
        response.read()
        endpoint = resolve(request.method, request.url.path)
        self.exchanges.append((endpoint.code if endpoint else None, request, response))
        return response


@pytest.fixture(scope="module")
def recorded() -> Iterator[RecordingTransport]:
    """Drive the client through every endpoint once (and the orders through every state)."""
    app = create_app(products=40, api_key=KEY, rate_scale=SCALE)
    state = app.state.sandbox
    server = serve_in_thread(app)
    transport = RecordingTransport()
    control = httpx2.Client(base_url=server.url)
    client = MiraklClient(server.url, KEY, shop_id=2001, transport=transport, rate_scale=SCALE)
    try:
        skus = [o.shop_sku for o in state.live_offers() if o.active and o.quantity >= 2][:6]

        def order(sku: str, qty: int = 1) -> str:
            return control.post("/_sandbox/orders", json={"lines": [{"offer_sku": sku, "quantity": qty}]}).json()["order_id"]

        control.post("/_sandbox/settings", json={"multi_shipment": True, "partial_cancelation": True})
        waiting = order(skus[0])
        shipped = order(skus[1], 2)
        canceled = order(skus[2])
        partially = order(skus[3], 2)
        multi = order(skus[4], 2)
        for oid in (shipped, canceled, partially, multi):
            client.accept_order(oid, {f"{oid}-1": True})
            control.post(f"/_sandbox/orders/{oid}/debit")
        client.update_tracking(shipped, models.TrackingRequest(carrier_code="DPD", tracking_number="1550"))
        client.ship_order(shipped)
        line = client.get_order(shipped).order_lines[0]
        client.refund(models.RefundRequest(order_tax_mode="TAX_INCLUDED", refunds=[models.RefundLineRequest(
            order_line_id=line.order_line_id, amount=round(line.price / 2, 2), shipping_amount=0, reason_code="16",
            quantity=1, taxes=[models.TaxLine(code="VAT", amount=round(line.price / 12, 2))])]))
        client.cancel_order(canceled)
        client.cancel_lines(models.CancelLinesRequest(cancelations=[models.CancelLineRequest(
            order_line_id=f"{partially}-1", amount=1.0, shipping_amount=0, quantity=0, reason_code="35")]))
        created = client.create_shipments(models.CreateShipmentsRequest(shipments=[models.ShipmentRequest(
            order_id=multi, invoice_reference="INV-1",
            tracking=models.ShipmentTrackingRequest(carrier_name="Local courier", tracking_url="https://courier.example/1"),
            shipment_lines=[models.ShipmentLineRequest(order_line_id=f"{multi}-1", quantity=2)])]))
        list(client.list_shipments(order_ids=[multi]))
        client.ship_shipments([created.shipment_success[0].id, "missing-id"])
        client.update_shipment_tracking(models.UpdateShipmentTrackingRequest(shipments=[models.ShipmentTrackingUpdate(
            id=created.shipment_success[0].id,
            tracking=models.ShipmentTrackingRequest(carrier_code="UPS", tracking_number="1Z"))]))
        control.post("/_sandbox/clock/advance", json={"seconds": 30})
        list(client.list_orders(order_ids=[waiting, shipped, canceled, partially, multi]))

        client.import_stock([{"offer-sku": skus[5], "quantity": 3}, {"offer-sku": "NOPE", "quantity": 1}])
        client.import_prices([{"offer-sku": skus[5], "price": "12.50"}, {"offer-sku": "NOPE", "price": "1"}])
        client.import_offers([{"sku": skus[5], "quantity": 9}, {"sku": "NEW-NO-PRODUCT", "product-id": "x",
                                                                "product-id-type": "EAN", "price": "3"}],
                             ["sku", "product-id", "product-id-type", "price", "quantity"])
        client.import_products([
            {"category": "home/kitchen", "shop_sku": "MB-C-1", "title": "Kettle", "description": "Steel kettle",
             "brand": "B", "ean": "5012345678900", "main_image": "https://img.example/k.jpg"},
            {"category": "nowhere", "shop_sku": "MB-C-2", "title": "", "description": "", "brand": "",
             "ean": "", "main_image": ""}])
        import_id = client.upsert_offers_json([models.OfferUpsert(
            shop_sku=skus[5], product_id=state.offers[skus[5]].product.ean, product_id_type="EAN", price=15.0,
            state_code="11", update_delete="update", quantity=4)])
        client.wait_for_import("OF01", import_id)
        client.export_offers(models.OfferExportRequest(export_type="application/json"))
        client.call("OF52", json={"export_type": "text/csv", "last_request_date": "2020-01-01T00:00:00Z"})
        list(client.list_offers(page_size=50))
        client.carriers(), client.shipping_types(), client.reasons(), client.attributes()
        client.hierarchies(), client.value_lists(), client.account()
        with pytest.raises(NotFound):  # no transformation report in the sandbox: a documented 404
            client.call("P47", path_params={"import_id": "2001"})
        yield transport
    finally:
        client.close()
        control.close()
        server.stop()


def _json_responses(recorded: RecordingTransport, code: str) -> list[httpx2.Response]:
    return [r for c, _, r in recorded.exchanges if c == code and r.headers.get("content-type", "").startswith(
        "application/json")]


JSON_RESPONSES = {
    "OR11": "200", "OR28": "200", "OR30": "200", "ST01": "201", "ST11": "200", "ST23": "200", "ST24": "200",
    "OF01": "201", "OF02": "200", "OF21": "200", "OF24": "201", "OF52": "200", "OF53": "200",
    "STO01": "201", "STO02": "200", "PRI01": "201", "PRI02": "200", "P41": "201", "P42": "200",
    "PM11": "200", "H11": "200", "VL11": "200", "SH12": "200", "SH21": "200", "RE01": "200", "A01": "200",
}


@pytest.mark.parametrize("code", sorted(JSON_RESPONSES))
def test_sandbox_response_matches_the_published_schema(spec: dict[str, Any], recorded: RecordingTransport,
                                                        code: str) -> None:
    responses = _json_responses(recorded, code)
    assert responses, f"{code} was never called with a JSON answer"
    validator = response_validator(spec, code, JSON_RESPONSES[code])
    for response in responses:
        assert str(response.status_code) == JSON_RESPONSES[code], response.text[:300]
        assert_valid(validator, response.json(), code)


def test_or11_covers_every_state_we_simulate(recorded: RecordingTransport) -> None:
    states = {o["order_state"] for r in _json_responses(recorded, "OR11") for o in r.json()["orders"]}
    assert {"WAITING_ACCEPTANCE", "SHIPPED", "CANCELED", "SHIPPING"} <= states
    lines = [line for r in _json_responses(recorded, "OR11") for o in r.json()["orders"] for line in o["order_lines"]]
    assert any(line["refunds"] for line in lines) and any(line["cancelations"] for line in lines)


def test_offer_export_chunks_match_the_of54_item_schema(spec: dict[str, Any], recorded: RecordingTransport) -> None:
    validator = response_validator(spec, "OF54", "200")
    chunks = [r for c, _, r in recorded.exchanges if c == "OF54"]
    assert chunks
    for chunk in chunks:
        items = chunk.json()
        assert isinstance(items, list) and items  # the schema shows one object; a chunk is a list of them
        for item in items:
            assert_valid(validator, item, "OF54 item")


@pytest.mark.parametrize("code,sku_column", [("OF03", "sku"), ("STO03", "offer-sku"), ("PRI03", "offer-sku"),
                                             ("P44", "shop_sku")])
def test_error_reports_are_semicolon_csv(recorded: RecordingTransport, code: str, sku_column: str) -> None:
    reports = [r for c, _, r in recorded.exchanges if c == code]
    assert reports, f"{code} never fetched"
    for report in reports:
        assert report.headers["content-type"].startswith("text/csv")
        if code in ("STO03", "PRI03"):
            # SPEC: "The first column contains the line number in error. The second column contains
            # the error reason", then the submitted row; the header names are not documented.
            header, cells = read_csv_cells(report.content)
            assert header[2] == sku_column
            assert cells and all(row[0].isdigit() and row[1] for row in cells)
            continue
        header, rows = read_csv(report.content)
        assert {"error-line", "error-message", sku_column} <= set(header)
        assert rows and all(row["error-line"].isdigit() and row["error-message"] for row in rows)


def test_every_client_request_matches_the_published_request_schema(spec: dict[str, Any],
                                                                     recorded: RecordingTransport) -> None:
    checked: set[str] = set()
    for code, request, _ in recorded.exchanges:
        assert code is not None, request.url
        assert request.headers["authorization"] == KEY
        assert request.url.params.get("shop_id") == "2001"
        body = request.content
        content_type = request.headers.get("content-type", "")
        operation = _operation(spec, code)
        if "requestBody" not in operation or code == "OF54":
            assert not body, f"{code} sent a body the operation does not take"
            continue
        declared = operation["requestBody"]["content"]
        if content_type.startswith("application/json"):
            assert "application/json" in declared, code
            assert_valid(request_validator(spec, code), json.loads(body), f"{code} request")
        else:
            assert content_type.startswith("multipart/form-data") and "multipart/form-data" in declared, code
            required = declared["multipart/form-data"]["schema"].get("required", [])
            for part in required:
                assert f'name="{part}"'.encode() in body, f"{code} upload lacks part {part}"
        checked.add(code)
    assert {"OR21", "OR23", "OR28", "OR30", "ST01", "ST23", "ST24", "OF52", "OF24", "OF01", "STO01", "PRI01", "P41"} <= checked


def test_body_less_puts_send_content_length_zero(recorded: RecordingTransport) -> None:
    puts = [req for code, req, _ in recorded.exchanges if code in ("OR24", "OR29")]
    assert len(puts) == 2
    assert all(req.headers["content-length"] == "0" and req.content == b"" for req in puts)


# ====================================================================== reference examples
EXAMPLE_MODELS: dict[str, type[Any]] = {
    "A01.response.200.json": models.Account,
    "H11.response.200.json": models.HierarchyList,
    "OF02.response.200.json": models.OfferImportStatus,
    "OF04.response.200.json": models.OfferImportPage,
    "OF21.response.200.json": models.OfferPage,
    "OF24.request.json": models.OfferUpsertRequest,
    "OF24.response.201.json": models.ImportCreated,
    "OF53.response.200.completed.json": models.ExportStatus,
    "OR11.response.200.json": models.OrderPage,
    "OR21.request.json": models.AcceptOrderRequest,
    "OR23.request.json": models.TrackingRequest,
    "OR28.request.json": models.RefundRequest,
    "OR28.response.200.json": models.RefundResponse,
    "OR30.request.json": models.CancelLinesRequest,
    "OR30.response.200.json": models.CancelationResponse,
    "P42.response.200.json": models.ProductImportStatus,
    "P51.response.200.json": models.ProductImportPage,
    "PM11.response.200.json": models.AttributeList,
    "RE01.response.200.json": models.ReasonList,
    "SH12.response.200.json": models.ShippingTypeList,
    "SH21.response.200.json": models.CarrierList,
    "ST01.request.json": models.CreateShipmentsRequest,
    "ST01.response.201.json": models.CreateShipmentsResponse,
    "ST12.response.200.json": models.ItemsToShipPage,
    "ST24.response.200.json": models.ShipmentBatchResponse,
    "VL11.response.200.json": models.ValueListList,
}


def test_every_reference_example_has_a_model() -> None:
    examples = {p.name for p in REFERENCE.glob("*.json")} - {"mirakl-mmp-seller-openapi.json"}
    assert examples == set(EXAMPLE_MODELS)


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODELS))
def test_reference_example_parses_with_the_client_models(name: str) -> None:
    data = json.loads((REFERENCE / name).read_text())
    model = EXAMPLE_MODELS[name]
    # request examples carry numbers as strings ("1") and codes as numbers (34): Mirakl accepts them,
    # so they are read leniently here; what *we* send stays strict (see RequestModel).
    parsed = model.model_validate(data, strict=False) if issubclass(model, models.RequestModel) else model.model_validate(data)
    assert parsed is not None


def test_or11_example_reads_into_useful_fields() -> None:
    page = models.OrderPage.model_validate(json.loads((REFERENCE / "OR11.response.200.json").read_text()))
    order = page.orders[0]
    line = order.order_lines[0]
    assert order.order_id == "Order_00010-A" and order.customer and order.customer.shipping_address
    assert line.refunds[0].status == "WAITING_REFUND_PAYMENT" and line.cancelations[0].reason_code == "34"
    assert order.shipping_tracking_url and order.total_price == 173


def test_csv_examples_parse() -> None:
    header, rows = read_csv((REFERENCE / "OF01.request.offers-file.csv").read_bytes())
    assert header[0] == "sku" and rows[0]["sku"] == "OFFER_SKU_004" and rows[0]["price"] == "110.52"
    from marketbridge.adapters.mirakl.client import _line_errors

    [error] = _line_errors(read_csv((REFERENCE / "OF03.response.200.error-report.csv").read_bytes())[1], "sku")
    assert (error.line, error.sku, error.message) == (2, "OFFER_SKU_004", "The product does not exist")


def test_the_relaxed_validator_still_catches_real_mistakes(spec: dict[str, Any], recorded: RecordingTransport) -> None:
    order = copy.deepcopy(_json_responses(recorded, "OR11")[0].json())
    validator = response_validator(spec, "OR11", "200")
    assert_valid(validator, order, "OR11 as sent")
    del order["orders"][0]["order_id"]
    order["orders"][0]["order_lines"][0]["quantity"] = "two"
    order["orders"][0]["customer"]["shipping_address"] = "not an address"
    messages = {e.message for e in validator.iter_errors(order)}
    assert any("order_id" in m for m in messages) and len(list(validator.iter_errors(order))) >= 3


def test_order_writes_answer_204_without_a_body(recorded: RecordingTransport) -> None:
    seen = set()
    for code, _, response in recorded.exchanges:
        if code in ("OR21", "OR23", "OR24", "OR29"):
            assert response.status_code == 204 and response.content == b"", code
            seen.add(code)
    assert seen == {"OR21", "OR23", "OR24", "OR29"}


def test_every_error_answer_has_status_and_message(recorded: RecordingTransport) -> None:
    errors = [(code, r) for code, _, r in recorded.exchanges if r.status_code >= 400]
    assert errors  # the P47 probe at least
    for code, response in errors:
        body = response.json()
        assert body["status"] == response.status_code and isinstance(body["message"], str) and body["message"], code
