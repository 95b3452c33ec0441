"""The full audit against both sandboxes: drift found, fixed, kept, downloadable; CLI and JSON API."""

from __future__ import annotations

import csv
import io
import json

import httpx2
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.services import audit as audit_service
from marketbridge.services import auth
from marketbridge.services import skus as sku_service
from marketbridge.web.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    yield runtime
    runtime.close()


def operator_sets(boxes, sku: str, **body) -> dict:
    """The marketplace operator (or someone in the back office) edits an offer behind our back."""
    response = httpx2.put(f"{boxes.mirakl_url}/_sandbox/offers/{sku}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def kinds(outcome) -> dict[str, set]:
    out: dict[str, set] = {}
    for d in outcome.drifts:
        out.setdefault(d.kind.value, set()).add(d.offer_sku or d.magento_sku)
    return out


def test_quantity_changed_on_the_marketplace_is_found_and_fixed(rt, fresh_sandboxes):
    first = audit_service.run_audit(rt)
    assert first.offer_source == "OF52"
    baseline = kinds(first)
    offer = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/MB-000010").json()
    operator_sets(fresh_sandboxes, "MB-000010", quantity=offer["quantity"] + 40)
    operator_sets(fresh_sandboxes, "MB-000011", price=1.23)
    operator_sets(fresh_sandboxes, "MB-000012", inactivity_reasons=["CATEGORY_UNAUTHORIZED_TO_SELL"])

    found = audit_service.run_audit(rt)
    drift = {(d.kind.value, d.offer_sku): d for d in found.drifts}
    qty = drift[("quantity_mismatch", "MB-000010")]
    assert (qty.expected, qty.actual) == (str(offer["quantity"]), str(offer["quantity"] + 40))
    assert drift[("price_mismatch", "MB-000011")].actual == "1.23"
    assert drift[("offer_inactive", "MB-000012")].detail == "CATEGORY_UNAUTHORIZED_TO_SELL"
    assert found.offer_source == "OF21"  # the full OF52 export is allowed once a day: OF21 paging instead
    # the seed's trailing-space offer is a SKU format mismatch with a suggested link, for ecommerce
    assert ("sku_format_mismatch", "MB-TRAILING-0001 ") in drift
    with rt.db.session() as s:
        suggestion = sku_service.open_near_misses(s)[0]
    assert (suggestion.offer_sku, suggestion.magento_sku) == ("MB-TRAILING-0001 ", "MB-TRAILING-0001")

    fixed = audit_service.run_audit(rt, fix=True)
    assert fixed.fixed["offers_repushed"] >= 2
    after = audit_service.run_audit(rt)
    after_kinds = kinds(after)
    assert "MB-000010" not in after_kinds.get("quantity_mismatch", set())
    assert "MB-000011" not in after_kinds.get("price_mismatch", set())
    assert httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/MB-000010").json()["quantity"] == offer["quantity"]
    # what needs a person is still there, and nothing new appeared
    assert "MB-000012" in after_kinds["offer_inactive"]
    for kind, skus in after_kinds.items():
        assert skus <= baseline.get(kind, set()) | {"MB-000012"}, kind
    with rt.db.session() as s:
        assert s.query(IssueRecord).filter_by(type="audit_offer_inactive", object_id="MB-000012").one().state == "open"
    with rt.audit_store.unit_of_work() as repo:
        runs = audit_service.list_runs(repo)
        assert [r.id for r in runs] == [after.run_id, fixed.run_id, found.run_id, 1]
        assert runs[1].fix is True and runs[2].counts["quantity_mismatch"] >= 1


def test_a_confirmed_link_replaces_the_near_miss(rt, fresh_sandboxes):
    before = kinds(audit_service.run_audit(rt))
    assert "MB-TRAILING-0001 " in before["sku_format_mismatch"]
    with rt.db.session() as s:
        sku_service.link(s, "MB-TRAILING-0001 ", "MB-TRAILING-0001", confirmed_by="ecommerce-anna")
    with rt.db.session() as s:
        assert sku_service.resolve(s, "MB-TRAILING-0001 ") == "MB-TRAILING-0001"
        assert sku_service.resolve(s, "MB-000001") is None
        assert s.query(IssueRecord).filter_by(type="sku_near_miss").one().state == "resolved"
    after = kinds(audit_service.run_audit(rt))
    assert "MB-TRAILING-0001 " not in after.get("sku_format_mismatch", set())
    assert "MB-TRAILING-0001" not in after.get("missing_on_marketplace", set())


def test_offers_from_of21_when_the_export_is_unavailable(rt, fresh_sandboxes):
    rt.settings.__dict__["audit_offer_source"] = "OF21"
    outcome = audit_service.run_audit(rt)
    assert outcome.offer_source == "OF21"
    assert outcome.offer_count > 100


# The JSON the API always sent (issue 18 typed it: same keys, same order).
RUN_KEYS = ["id", "trigger", "status", "offer_source", "fix", "magento_count", "offer_count", "drift_count", "counts",
            "fixed", "error", "started_at", "finished_at", "elapsed_seconds"]
DRIFT_KEYS = ["kind", "label", "magento_sku", "offer_sku", "expected", "actual", "detail", "fix_action", "fix_result"]


def test_cli_audit_json_and_api_runs_with_a_safe_csv(rt, fresh_sandboxes, monkeypatch, migrated_db_url):
    operator_sets(fresh_sandboxes, "MB-000010", quantity=999)
    monkeypatch.setenv("MARKETBRIDGE_DATABASE_URL", migrated_db_url)
    monkeypatch.setenv("MARKETBRIDGE_MAGENTO_BASE_URL", fresh_sandboxes.magento_url)
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_BASE_URL", fresh_sandboxes.mirakl_url)
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE", "0.01")
    from marketbridge.cli.main import app

    result = CliRunner().invoke(app, ["audit", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"]["quantity_mismatch"] >= 1
    assert list(data) == ["run_id", "offer_source", "magento_count", "offer_count", "counts", "drift_count",
                          "elapsed_seconds", "fixed", "drifts"]  # the summary's keys, as before issue 18
    assert {"kind": "quantity_mismatch", "offer_sku": "MB-000010", "actual": "999"}.items() <= next(
        d for d in data["drifts"] if d["offer_sku"] == "MB-000010").items()

    # an offer SKU crafted as a formula must not run in a spreadsheet
    with rt.db.session() as s:
        from marketbridge.adapters.db.models.catalogue import AuditDrift

        s.add(AuditDrift(run_id=data["run_id"], kind="offer_without_product", offer_sku='=HYPERLINK("http://x")',
                         expected="", actual="", detail="", fix_action="", fix_result=""))
        user = auth.create_user(SqlPeopleRepository(s), "anna", Role.ECOMMERCE, "a long passphrase")
        token = auth.create_token(SqlPeopleRepository(s), user)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(rt, start_engine=False)) as client:
        assert client.get("/api/audit/runs").status_code == 401
        runs = client.get("/api/audit/runs", headers=headers).json()
        assert runs[0]["id"] == data["run_id"] and runs[0]["status"] == "complete"
        assert list(runs[0]) == RUN_KEYS
        one = client.get(f"/api/audit/runs/{data['run_id']}?kind=quantity_mismatch", headers=headers).json()
        assert list(one) == [*RUN_KEYS, "drifts"] and list(one["drifts"][0]) == DRIFT_KEYS
        assert any(d["offer_sku"] == "MB-000010" for d in one["drifts"])
        response = client.get(f"/api/audit/runs/{data['run_id']}.csv", headers=headers)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert any(r["offer_sku"] == "'=HYPERLINK(\"http://x\")" for r in rows)
        assert any(r["offer_sku"] == "MB-000010" and r["actual"] == "999" for r in rows)
        assert client.get("/api/audit/runs/999.csv", headers=headers).status_code == 404
        assert list(client.get("/api/skus/near-misses", headers=headers).json()[0]) == [
            "offer_sku", "magento_sku", "reason", "exception_id"]
        link = client.post("/api/skus/links", headers=headers,
                           json={"offer_sku": "MB-TRAILING-0001 ", "magento_sku": "MB-TRAILING-0001"})
        assert link.status_code == 201 and link.json()["confirmed_by"] == "anna"
        assert list(link.json()) == ["offer_sku", "magento_sku", "confirmed_by", "confirmed_at", "note"]
        assert client.get("/api/skus/links", headers=headers).json() == [link.json()]
        assert client.post("/api/skus/links", headers=headers, json={"offer_sku": 5}).status_code == 422
        mapped = client.put("/api/catalogue/mappings/categories/Garden", headers=headers,
                            json={"marketplace_category": "home/lighting"})
        assert mapped.status_code == 200
        assert mapped.json() == {"magento_category": "Garden", "marketplace_category": "home/lighting"}
        assert {"magento_category": "Garden", "marketplace_category": "home/lighting"} in \
            client.get("/api/catalogue/mappings", headers=headers).json()["categories"]


def test_in_service_fix_re_reads_magento_instead_of_sending_the_audits_older_value(rt, fresh_sandboxes, monkeypatch):
    """The audit reads the whole catalogue before it fixes; a value it read then is stale by the
    time it fixes. It must never replace what the stock flow queued since: it asks the stock flow
    to re-read the SKU and send what Adobe Commerce says at that moment, even if unchanged."""
    from sqlalchemy import select

    from marketbridge.adapters.db.base import utcnow
    from marketbridge.adapters.db.models.stock import StockHint, SyncOutbox
    from marketbridge.domain.stock import Kind
    from marketbridge.services.stock import outbox
    from marketbridge.services.stock import refresh as stock_refresh
    from marketbridge.workflows import engine

    monkeypatch.setattr(engine, "is_launched", lambda: True)  # the fix path of the running service
    offer = httpx2.get(f"{fresh_sandboxes.mirakl_url}/_sandbox/offers/MB-000010").json()
    operator_sets(fresh_sandboxes, "MB-000010", quantity=offer["quantity"] + 40)
    found = audit_service.run_audit(rt)
    assert any(d.offer_sku == "MB-000010" and d.kind.value == "quantity_mismatch" for d in found.drifts)
    # meanwhile the warehouse books stock in and the stock flow queues the new value
    salable_now = offer["quantity"] + 3
    httpx2.post(f"{fresh_sandboxes.magento_url}/_sandbox/stock", json={"sku": "MB-000010", "qty": salable_now})
    with rt.db.session() as s:
        outbox.enqueue(s, [outbox.Change(Kind.STOCK, "MB-000010", str(salable_now), utcnow())])

    fixed = audit_service.run_audit(rt, fix=True)
    assert fixed.fixed["offers_queued"] >= 1
    with rt.db.session() as s:
        row = s.scalars(select(SyncOutbox).where(SyncOutbox.kind == "stock", SyncOutbox.sku == "MB-000010")).one()
        assert row.pending_value == str(salable_now)  # the newer value survived the fix
        hint = s.get(StockHint, "MB-000010")
        assert hint is not None and hint.force and hint.exact and hint.reason == "audit fix"
        s.execute(SyncOutbox.__table__.delete())  # as if the value had gone out: the forced re-read re-queues it
    stock_refresh.refresh(rt)
    with rt.db.session() as s:
        row = s.scalars(select(SyncOutbox).where(SyncOutbox.kind == "stock", SyncOutbox.sku == "MB-000010")).one()
        assert row.pending_value == str(int(rt.magento.salable_quantity("MB-000010", 1)))


def test_openapi_names_the_shapes_of_the_catalogue_and_audit_routes(rt):
    """Issue 18: every catalogue and audit JSON route declares its response model, so /openapi.json
    describes the real shapes (named schemas), not an anonymous object."""
    with TestClient(create_app(rt, start_engine=False)) as client:
        spec = client.get("/openapi.json").json()
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    ref = "#/components/schemas/"

    def response_schema(path: str, method: str, code: str = "200") -> dict:
        return paths[path][method]["responses"][code]["content"]["application/json"]["schema"]

    assert response_schema("/api/catalogue/listings", "get")["items"] == {"$ref": ref + "ListingView"}
    assert response_schema("/api/catalogue/listings/{sku}", "get") == {"$ref": ref + "ListingView"}
    published = response_schema("/api/catalogue/publish", "post")["additionalProperties"]
    assert {s["$ref"] for s in published["anyOf"]} == {ref + "ListingView", ref + "UnknownSku"}
    assert response_schema("/api/catalogue/mappings", "get") == {"$ref": ref + "MappingsView"}
    assert response_schema("/api/catalogue/mappings/attributes/{attribute}", "put") == {
        "$ref": ref + "AttributeMappingView"}
    assert response_schema("/api/catalogue/mappings/categories/{magento_category}", "put") == {
        "$ref": ref + "CategoryMappingView"}
    assert response_schema("/api/catalogue/rules/{sku}", "put") == {"$ref": ref + "PublishRuleView"}
    assert response_schema("/api/audit/runs", "get")["items"] == {"$ref": ref + "AuditRunView"}
    assert response_schema("/api/audit/runs/{run_id}", "get") == {"$ref": ref + "AuditRunDetail"}
    started = response_schema("/api/audit/runs", "post", "202")
    assert {s["$ref"] for s in started["anyOf"]} == {ref + "AuditStarted", ref + "AuditSummary"}
    assert list(schemas["ListingView"]["properties"]) == ["magento_sku", "offer_sku", "type_id", "variant_group",
                                                          "status", "stage", "problems", "product_import_id",
                                                          "offer_import_id", "updated_at"]
    assert schemas["MappingsView"]["properties"]["attributes"]["items"] == {"$ref": ref + "AttributeMappingView"}
    assert schemas["AuditRunDetail"]["properties"]["drifts"]["items"] == {"$ref": ref + "AuditDriftView"}
    assert list(schemas["AuditRunView"]["properties"]) == RUN_KEYS
    assert list(schemas["AuditDriftView"]["properties"]) == DRIFT_KEYS
    assert response_schema("/api/skus/links", "get")["items"] == {"$ref": ref + "SkuLinkView"}
    assert response_schema("/api/skus/links", "post", "201") == {"$ref": ref + "SkuLinkView"}
    assert response_schema("/api/skus/near-misses", "get")["items"] == {"$ref": ref + "NearMissView"}


def test_openapi_schema_names_are_unique_and_every_json_route_names_its_shape(rt):
    """Two response models of the same name in two flows (a stock ``RuleView`` and a catalogue
    one) made FastAPI fall back to module-qualified names such as
    ``marketbridge__services__catalogue__results__RuleView``: a client generator then sees names
    that change whenever a module moves. Every schema keeps a plain name."""
    with TestClient(create_app(rt, start_engine=False)) as client:
        spec = client.get("/openapi.json").json()
    qualified = [name for name in spec["components"]["schemas"] if "__" in name]
    assert qualified == []


def _names_a_shape(schema: dict) -> bool:
    """A named model (``$ref``), a list or map of one, or a union of them; not ``{}``/``object``."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _names_a_shape(schema.get("items") or {})
    if isinstance(schema.get("additionalProperties"), dict):
        return _names_a_shape(schema["additionalProperties"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return all(_names_a_shape(s) or s.get("type") == "null" for s in schema[key])
    return False


# Routes whose success answer is not JSON (a file), or carries no body.
NOT_JSON = {("GET", "/api/audit/runs/{run_id}.csv"), ("GET", "/api/finance/report"), ("GET", "/metrics")}


def test_every_json_route_of_the_api_names_the_shape_it_answers(rt):
    """``/openapi.json`` describes real shapes: every JSON answer of the API and of the health
    routes is a named model (or a list/map of one), not an untyped object."""
    with TestClient(create_app(rt, start_engine=False)) as client:
        spec = client.get("/openapi.json").json()
    untyped = []
    for path, methods in spec["paths"].items():
        if not (path.startswith("/api/") or path in ("/healthz", "/readyz")):
            continue
        for method, operation in methods.items():
            if (method.upper(), path) in NOT_JSON:
                continue
            for code, response in operation.get("responses", {}).items():
                if not code.startswith("2") or code == "204":
                    continue
                schema = (response.get("content") or {}).get("application/json", {}).get("schema")
                if schema is None or not _names_a_shape(schema):
                    untyped.append(f"{method.upper()} {path} {code}")
    assert untyped == []
