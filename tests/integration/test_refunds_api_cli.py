"""The refunds and finance JSON API and CLI, over the sandboxes."""

from __future__ import annotations

import csv
import io
import json

import httpx2
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.services import auth
from marketbridge.services import refunds as refund_service
from marketbridge.web.app import create_app
from tests.conftest import make_settings
from tests.integration import refunds_helpers as fixtures
from tests.integration.refunds_helpers import credit_memo, follow, shipped_order

refunds_template_db = fixtures.refunds_template_db  # a migrated SQLite file copied per test
refunds_db_url = fixtures.refunds_db_url


@pytest.fixture
def rt(refunds_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(refunds_db_url, fresh_sandboxes))
    yield runtime
    runtime.close()


@pytest.fixture
def api(rt):
    with rt.db.session() as s:
        people = SqlPeopleRepository(s)
        user = auth.create_user(people, "fiona", Role.FINANCE, "a long passphrase")
        token = auth.create_token(people, user)
    with TestClient(create_app(rt, start_engine=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_api_lists_shows_retries_and_mirrors(rt, api, fresh_sandboxes):
    sc = shipped_order(rt.mirakl, rt.magento, fresh_sandboxes.mirakl_url, [("MB-000001", 2)], shipping=4.5)
    sent = credit_memo(rt.magento, sc, {"MB-000001": 1})
    assert refund_service.process(rt, sent).status == "sent"
    from tests.integration.refunds_helpers import Scenario, magento_order

    entity_id, items = magento_order(rt.magento, "JL-888888-A", [("MB-000016", 1)], 0)
    held = credit_memo(rt.magento, Scenario("JL-888888-A", [], entity_id, items), {"MB-000016": 1})
    assert refund_service.process(rt, held).status == "held"

    assert api.get("/api/refunds").status_code == 200
    assert {r["status"] for r in api.get("/api/refunds").json()} == {"sent", "held"}
    [only_held] = api.get("/api/refunds", params={"status": "held"}).json()
    assert "does not exist on the marketplace" in only_held["problem"]
    assert api.get("/api/refunds", params={"status": "bogus"}).status_code == 422
    shown = api.get(f"/api/refunds/{sent}").json()
    assert shown["marketplace_refunds"][0]["amount"] == "107.45"
    assert api.get("/api/refunds/999999").status_code == 404
    assert api.post(f"/api/refunds/{sent}/retry").status_code == 409  # only held memos
    retried = api.post(f"/api/refunds/{held}/retry").json()
    assert retried["workflow_id"] == f"creditmemo:{held}:r1" and retried["enqueued"] is False

    # a refund made on the marketplace, mirrored in Magento through the API
    [refund_id] = httpx2.post(f"{fresh_sandboxes.mirakl_url}/_sandbox/orders/{sc.order_id}/operator-refund",
                              json={"amount": 50.0, "shipping_amount": 0}).json()["refund_ids"]
    follow(rt)  # after the order feed's read, in the default install
    foreign = api.get("/api/refunds/marketplace", params={"origin": "marketplace"}).json()
    assert [r["refund_id"] for r in foreign] == [refund_id]
    mirrored = api.post(f"/api/refunds/marketplace/{refund_id}/mirror").json()
    assert mirrored["created"] is True
    assert rt.magento.get_creditmemo(mirrored["creditmemo_id"]).grand_total == 50.0
    assert api.post("/api/refunds/marketplace/nope/mirror").status_code == 409

    reasons = api.get("/api/refunds/reasons").json()
    assert reasons["default"]["code"] == "16"
    assert api.get("/api/refunds").status_code == 200
    assert TestClient(create_app(rt, start_engine=False)).get("/api/refunds").status_code == 401


def test_finance_report_api_and_cli(rt, api, fresh_sandboxes, monkeypatch, refunds_db_url, tmp_path):
    sc = shipped_order(rt.mirakl, rt.magento, fresh_sandboxes.mirakl_url, [("MB-000006", 1)], shipping=0)
    from marketbridge.adapters.db.base import utcnow

    month = utcnow().strftime("%Y-%m")
    data = api.get("/api/finance/report", params={"month": month}).json()
    assert [(r["order_id"], r["status"]) for r in data["rows"]] == [(sc.order_id, "matched")]
    response = api.get("/api/finance/report", params={"month": month, "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(response.text)))[1][:2] == [sc.order_id, "matched"]
    assert api.get("/api/finance/report", params={"month": "2026-13"}).status_code == 422
    assert api.get("/api/finance/report").status_code == 422

    monkeypatch.setenv("MARKETBRIDGE_DATABASE_URL", refunds_db_url)
    monkeypatch.setenv("MARKETBRIDGE_MAGENTO_BASE_URL", fresh_sandboxes.magento_url)
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_BASE_URL", fresh_sandboxes.mirakl_url)
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE", "0.01")
    from marketbridge.cli.main import app

    out = tmp_path / "finance.csv"
    result = CliRunner().invoke(app, ["finance", "report", "--month", month, "--csv", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["by_status"]["matched"] == 1
    assert sc.order_id in out.read_text()
    bad = CliRunner().invoke(app, ["finance", "report", "--month", "13-2026"])
    assert bad.exit_code == 1 and "month must look like" in bad.output

    memo_id = credit_memo(rt.magento, sc, {"MB-000006": 1})
    result = CliRunner().invoke(app, ["refunds", "process", str(memo_id)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "sent"
    listed = CliRunner().invoke(app, ["refunds", "list", "--json"])
    assert [r["creditmemo_id"] for r in json.loads(listed.stdout)] == [memo_id]
    shown = CliRunner().invoke(app, ["refunds", "show", str(memo_id)])
    assert shown.exit_code == 0 and "sent" in shown.stdout
    reasons = CliRunner().invoke(app, ["refunds", "reasons", "--refresh", "--json"])
    assert reasons.exit_code == 0, reasons.output
    assert {m["check"] for m in json.loads(reasons.stdout.split("\n", 1)[1])["mapping"]} == {"ok"}


def test_openapi_names_the_shapes_of_the_refunds_routes(api):
    """Issue 18: every refunds JSON route declares its response model, so /openapi.json describes the
    real shapes (named schemas), not an anonymous object."""
    spec = api.get("/openapi.json").json()
    paths, schemas = spec["paths"], spec["components"]["schemas"]

    def response_schema(path: str, method: str) -> dict:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    ref = "#/components/schemas/"
    assert response_schema("/api/refunds", "get") == {"type": "array", "items": {"$ref": ref + "RefundView"},
                                                      "title": "Response List Refunds Api Refunds Get"}
    assert response_schema("/api/refunds/marketplace", "get")["items"] == {"$ref": ref + "MarketplaceRefundView"}
    assert response_schema("/api/refunds/reasons", "get") == {"$ref": ref + "ReasonTable"}
    shown = response_schema("/api/refunds/{key}", "get")
    assert {s["$ref"] for s in shown["anyOf"]} == {ref + "RefundDetail", ref + "MarketplaceRefundDetail"}
    assert response_schema("/api/refunds/{key}/retry", "post") == {"$ref": ref + "RetryResponse"}
    assert response_schema("/api/refunds/marketplace/{refund_id}/mirror", "post") == {"$ref": ref + "MirrorResult"}
    view = schemas["RefundView"]["properties"]
    assert view["lines"]["items"] == {"$ref": ref + "RefundLineView"}
    assert view["total"]["type"] == "string"  # money is a decimal string on the wire
    assert schemas["ReasonTable"]["properties"]["mapping"]["items"] == {"$ref": ref + "ReasonMapping"}
    assert set(schemas["RetryResponse"]["properties"]) == {"creditmemo_id", "workflow_id", "enqueued"}


def test_openapi_names_the_shape_of_the_finance_report(api):
    """The finance route answers JSON or CSV; its JSON shape is declared, named, in /openapi.json."""
    spec = api.get("/openapi.json").json()
    content = spec["paths"]["/api/finance/report"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/FinanceReportView"}
    assert "text/csv" in content
    schemas = spec["components"]["schemas"]
    assert schemas["FinanceReportView"]["properties"]["rows"]["items"] == {"$ref": "#/components/schemas/FinanceRow"}
    assert schemas["FinanceReportView"]["properties"]["totals"] == {"$ref": "#/components/schemas/FinanceTotals"}
