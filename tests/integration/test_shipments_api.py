"""JSON API of the shipments area, over HTTP against the Mirakl sandbox's carrier list."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.domain.shipments import ShipmentState
from marketbridge.services import auth
from marketbridge.web.app import create_app
from tests.conftest import make_settings
from tests.integration.shipments_helpers import magento_order, marketplace_order, ship, simple_skus


@pytest.fixture
def api(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    with runtime.db.session() as s:
        people = SqlPeopleRepository(s)
        token = auth.create_token(people, auth.create_user(people, "ops1", Role.OPS, "correct horse battery"))
    with TestClient(create_app(runtime, start_engine=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        client.runtime = runtime  # for tests that make shipments first
        client.boxes = fresh_sandboxes
        yield client
    runtime.close()


def test_carrier_mappings_crud_with_validation_against_sh21(api):
    assert api.get("/api/carriers/mappings").json() == []
    created = api.post("/api/carriers/mappings", json={"magento_carrier_code": "custom", "title": "Speedy Couriers",
                                                       "marketplace_code": "dpd"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["mapping"]["marketplace_code"] == "DPD" and body["mapping"]["kind"] == "mapping"
    assert body["released_shipments"] == []
    alias = api.post("/api/carriers/mappings", json={"title": "Hermes Parcelnet", "marketplace_code": "EVRI"}).json()
    assert alias["mapping"]["kind"] == "alias"
    listed = api.get("/api/carriers/mappings").json()
    assert {m["marketplace_code"] for m in listed} == {"DPD", "EVRI"}
    # replacing the same key updates rather than duplicates
    api.post("/api/carriers/mappings", json={"magento_carrier_code": "custom", "title": "speedy couriers",
                                             "marketplace_code": "UPS"})
    assert sorted(m["marketplace_code"] for m in api.get("/api/carriers/mappings").json()) == ["EVRI", "UPS"]

    unknown = api.post("/api/carriers/mappings", json={"title": "X", "marketplace_code": "NOPE"})
    assert unknown.status_code == 422 and "NOPE" in str(unknown.json()["detail"])
    empty = api.post("/api/carriers/mappings", json={"marketplace_code": "DPD"})
    assert empty.status_code == 422
    extra = api.post("/api/carriers/mappings", json={"title": "X", "marketplace_code": "DPD", "bogus": 1})
    assert extra.status_code == 422

    mapping_id = listed[0]["id"]
    assert api.delete(f"/api/carriers/mappings/{mapping_id}").status_code == 204
    assert api.delete(f"/api/carriers/mappings/{mapping_id}").status_code == 404
    assert len(api.get("/api/carriers/mappings").json()) == 1


def test_suggest_ranks_marketplace_carriers(api):
    result = api.get("/api/carriers/suggest", params={"title": "Royal Mail Tracked 48"}).json()
    assert result["match"] is None
    assert result["suggestions"][0]["code"] == "ROYAL_MAIL"
    matched = api.get("/api/carriers/suggest", params={"title": "DPD UK"}).json()
    assert matched["match"]["code"] == "DPD" and matched["match"]["method"] == "label"
    assert api.get("/api/carriers/suggest").status_code == 422


def test_shipments_list_needs_a_token_and_validates_state(api):
    assert api.get("/api/shipments").json() == []
    assert api.get("/api/shipments", params={"state": "nonsense"}).status_code == 422
    assert api.get("/api/shipments/123").status_code == 404
    summary = api.get("/api/shipments/summary").json()
    assert summary["confirmed"] == 0 and summary["waiting_carrier"] == 0
    assert api.get("/api/carriers").json()[0]["code"]
    api.headers.pop("Authorization")
    assert api.get("/api/shipments").status_code == 401
    assert api.post("/api/carriers/mappings", json={"title": "X", "marketplace_code": "DPD"}).status_code == 401


def test_a_long_stale_carrier_list_is_refreshed_on_use(migrated_db_url, fresh_sandboxes):
    import datetime as dt

    from marketbridge.adapters.db.models.shipments import MarketplaceCarrier
    from marketbridge.services import shipments as shipment_service

    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    try:
        with runtime.db.session() as session:
            session.add(MarketplaceCarrier(code="OLDCO", label="Old Carrier", refreshed_at=dt.datetime(2020, 1, 1,
                                                                                                     tzinfo=dt.UTC)))
        codes = {c.code for c in shipment_service.ensure_carriers(runtime)}
        assert "OLDCO" not in codes and "DPD" in codes
    finally:
        runtime.close()


#: Each JSON route of the shipments area and the named schema /openapi.json gives its 2xx response.
SHAPES = {
    ("get", "/api/carriers"): ("array", "CarrierView"),
    ("get", "/api/carriers/mappings"): ("array", "CarrierMappingView"),
    ("post", "/api/carriers/mappings"): ("object", "MappingAdded"),
    ("get", "/api/carriers/suggest"): ("object", "CarrierSuggestions"),
    ("get", "/api/shipments"): ("array", "ShipmentView"),
    ("get", "/api/shipments/summary"): ("object", "ShipmentCounts"),
    ("get", "/api/shipments/{shipment_id}"): ("object", "ShipmentView"),
}


def test_openapi_describes_the_shipments_responses_by_name(api):
    spec = api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for (method, path), (kind, name) in SHAPES.items():
        responses = spec["paths"][path][method]["responses"]
        ok = next(body for code, body in responses.items() if code.startswith("2"))
        schema = ok["content"]["application/json"]["schema"]
        ref = schema["items"]["$ref"] if kind == "array" else schema["$ref"]
        assert schema.get("type", "object") == kind and ref == f"#/components/schemas/{name}", (path, schema)
        assert schemas[name]["properties"], name
    assert set(schemas["ShipmentView"]["required"]) >= {"magento_shipment_id", "state", "tracks", "results"}
    suggestion = schemas["CarrierSuggestions"]["properties"]["suggestions"]["items"]["$ref"]
    assert suggestion == "#/components/schemas/SuggestionView"
    assert set(schemas["ShipmentCounts"]["properties"]) == {s.value for s in ShipmentState}


def test_a_shipment_reads_the_same_in_the_list_the_detail_and_the_cli_view(api):
    """The typed view keeps the fields and values the API has always returned."""
    from marketbridge.services import shipments as shipment_service

    runtime = api.runtime
    sku = simple_skus(1)[0]
    mo = marketplace_order(api.boxes.mirakl_url, runtime, [(sku, 1)])
    shipment_id = ship(runtime, magento_order(runtime, mo["order_id"], [(sku, 1)]),
                       tracks=[("DPD777", "DPD UK", "custom")])
    assert shipment_id in shipment_service.poll_new_shipments(runtime)

    listed = api.get("/api/shipments", params={"order_id": mo["order_id"]}).json()
    detail = api.get(f"/api/shipments/{shipment_id}").json()
    assert listed == [detail]
    assert list(detail) == list(shipment_service.ShipmentView.model_fields)
    assert detail["magento_shipment_id"] == shipment_id and detail["marketplace_order_id"] == mo["order_id"]
    assert detail["state"] == "new" and detail["tracks"][0]["track_number"] == "DPD777"
    assert detail["detected_at"] and detail["sent_at"] is None and detail["lines"] == {}
    assert api.get("/api/shipments/summary").json()["new"] == 1
