"""Issue 18: the stock flow's read side returns typed views (services/stock/views.py), and their JSON
is exactly the dicts the functions returned before: same keys, same order, same values and the same
JSON types (``12.0`` stays ``12.0``, ``None`` stays ``null``), on real rows of a migrated database.

The ``_old_*`` functions below are the dict-building code of services/stock/state.py and rules.py as
it was before the typed views (commit 3a8dca3), kept here as the reference the views are pinned to:
the API, ``marketbridge stock ... --json``, the console and the soak's sampler read that JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from marketbridge.adapters.db.models.stock import (
    SkuPushLog,
    SkuState,
    StockHint,
    StockRule,
    SyncBatch,
    SyncLane,
    SyncOutbox,
)
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.domain.auth import Role
from marketbridge.domain.stock import Kind, Scope
from marketbridge.services import auth
from marketbridge.services.stock import rules, state
from marketbridge.web.app import create_app


# ------------------------------------------------------------------ the reference (before issue 18)
def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _old_sku_view(session: Session, sku: str) -> dict[str, Any] | None:
    state_row = session.get(SkuState, sku)
    if state_row is None:
        return None
    pending = {
        row.kind: {"pending": row.pending_value, "in_flight": row.inflight_value, "batch_id": row.inflight_batch_id,
                   "noticed_at": _iso(row.pending_first_noticed_at or row.inflight_first_noticed_at)}
        for row in session.scalars(select(SyncOutbox).where(SyncOutbox.sku == sku))
    }
    hint = session.get(StockHint, sku)
    s = state_row
    return {
        "sku": s.sku,
        "product": {"enabled": s.enabled, "type_id": s.type_id, "manage_stock": s.manage_stock,
                    "min_qty": s.min_qty, "category_ids": list(s.category_ids or []),
                    "read_at": _iso(s.facts_at)},
        "stock": {
            "magento_salable_qty": s.magento_qty, "target_qty": s.target_qty, "rule_applied": s.stock_rule,
            "published_qty": s.published_qty, "last_pushed_at": _iso(s.stock_pushed_at),
            "import_id": s.stock_import_id, "result": s.stock_result, "message": s.stock_message,
            "completed_at": _iso(s.stock_completed_at), "latency_seconds": s.stock_latency_seconds,
            "outbox": pending.get(Kind.STOCK.value),
        },
        "price": {
            "magento_price": s.magento_price, "target_price": s.target_price, "rule_applied": s.price_rule,
            "published_price": s.published_price, "last_pushed_at": _iso(s.price_pushed_at),
            "import_id": s.price_import_id, "result": s.price_result, "message": s.price_message,
            "completed_at": _iso(s.price_completed_at), "latency_seconds": s.price_latency_seconds,
            "outbox": pending.get(Kind.PRICE.value),
        },
        "last_noticed_at": _iso(s.noticed_at),
        "waiting_for_magento_read": hint is not None,
    }


def _old_list_states(session: Session, *, result: str | None = None, limit: int = 100,
                     offset: int = 0) -> list[dict[str, Any]]:
    query = select(SkuState).order_by(SkuState.sku)
    if result:
        query = query.where((SkuState.stock_result == result) | (SkuState.price_result == result))
    return [
        {"sku": s.sku, "magento_qty": s.magento_qty, "target_qty": s.target_qty, "published_qty": s.published_qty,
         "stock_result": s.stock_result, "target_price": s.target_price, "published_price": s.published_price,
         "price_result": s.price_result, "last_pushed_at": _iso(s.stock_pushed_at),
         "latency_seconds": s.stock_latency_seconds}
        for s in session.scalars(query.limit(limit).offset(offset))
    ]


def _old_list_batches(session: Session, *, limit: int = 50) -> list[dict[str, Any]]:
    return [{"id": b.id, "api": b.api, "kinds": b.kinds.split(","), "state": b.state,
             "import_id": b.import_id, "skus": b.sku_count, "ok": b.ok_count, "errors": b.error_count,
             "import_status": b.import_status, "error": b.error, "created_at": _iso(b.created_at),
             "sent_at": _iso(b.sent_at), "completed_at": _iso(b.completed_at)}
            for b in session.scalars(select(SyncBatch).order_by(SyncBatch.id.desc()).limit(limit))]


def _old_summary(session: Session) -> dict[str, Any]:
    def count(query: Any) -> int:
        return int(session.scalar(query) or 0)

    return {
        "skus": count(select(func.count()).select_from(SkuState)),
        "waiting_for_magento_read": count(select(func.count()).select_from(StockHint)),
        "pending": {k.value: count(select(func.count()).select_from(SyncOutbox).where(
            SyncOutbox.kind == k.value, SyncOutbox.pending_value.is_not(None))) for k in Kind},
        "in_flight": count(select(func.count()).select_from(SyncOutbox).where(SyncOutbox.inflight_batch_id.is_not(None))),
        "errors": count(select(func.count()).select_from(SkuState).where(
            (SkuState.stock_result == "error") | (SkuState.price_result == "error"))),
        "lanes": [{"api": lane.api, "active_batch_id": lane.active_batch_id, "last_sent_at": _iso(lane.last_sent_at)}
                  for lane in session.scalars(select(SyncLane).order_by(SyncLane.api))],
    }


def _old_sku_history(session: Session, sku: str, *, limit: int = 50) -> list[dict[str, Any]]:
    rows = session.scalars(select(SkuPushLog).where(SkuPushLog.sku == sku).order_by(SkuPushLog.id.desc()).limit(limit))
    return [{"kind": r.kind, "value": r.value, "result": r.result, "message": r.message, "batch_id": r.batch_id,
             "first_noticed_at": _iso(r.first_noticed_at), "read_at": _iso(r.read_at),
             "completed_at": _iso(r.completed_at),
             "latency_seconds": (r.completed_at - r.first_noticed_at).total_seconds() if r.first_noticed_at else None}
            for r in rows]


def _old_rule_to_dict(row: StockRule) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "scope": row.scope, "scope_key": row.scope_key,
            "params": dict(row.params or {}), "note": row.note, "created_by": row.created_by,
            "created_at": row.created_at.isoformat() if row.created_at else None}


def _old_list_rules(session: Session, kind: Kind | None = None) -> list[dict[str, Any]]:
    query = select(StockRule).order_by(StockRule.kind, StockRule.scope, StockRule.scope_key)
    if kind is not None:
        query = query.where(StockRule.kind == kind.value)
    return [_old_rule_to_dict(r) for r in session.scalars(query)]


# ------------------------------------------------------------------ real rows
T0 = dt.datetime(2026, 12, 6, 9, 30, 15, 123456)


def _same_json(new: Any, old: Any) -> None:
    """Equal as JSON text: keys, their order, values and JSON types (``12`` is not ``12.0``)."""
    assert json.dumps(new) == json.dumps(old)


def _seed(session: Session) -> None:
    """SKUs in every shape the read side shows: pushed (ok, with latency), rejected, never pushed
    (NULLs everywhere), pending and in flight in the outbox, a hint waiting; two batches, two lanes,
    a history with and without a first notice; rules with int, float and text settings."""
    session.add_all([
        SkuState(sku="MB-OK", enabled=True, type_id="simple", manage_stock=True, min_qty=1.5,
                 category_ids=[3, "12"], facts_at=T0, magento_qty=12.0, target_qty=10, stock_rule="global",
                 published_qty=10, stock_import_id="2001", stock_result="ok", stock_message="",
                 stock_pushed_at=T0, stock_completed_at=T0 + dt.timedelta(seconds=40), stock_latency_seconds=41.25,
                 magento_price="19.99", target_price="21.99", price_rule="global", published_price="21.99",
                 price_import_id="3001", price_result="ok", price_message="", price_pushed_at=T0,
                 price_completed_at=T0 + dt.timedelta(seconds=50), price_latency_seconds=50.0, noticed_at=T0),
        SkuState(sku="MB-ERR", enabled=False, type_id="configurable", manage_stock=False, min_qty=0.0,
                 category_ids=[], magento_qty=0.0, target_qty=0, stock_result="error",
                 stock_message="offer unknown", price_result="", price_message=""),
        SkuState(sku="MB-NEW", category_ids=[]),
        SyncOutbox(kind=Kind.STOCK.value, sku="MB-OK", pending_value="9", pending_first_noticed_at=T0,
                   pending_noticed_at=T0, inflight_batch_id=2, inflight_value="10",
                   inflight_first_noticed_at=T0 - dt.timedelta(minutes=1)),
        SyncOutbox(kind=Kind.PRICE.value, sku="MB-OK", inflight_batch_id=2, inflight_value="21.99",
                   inflight_first_noticed_at=T0 - dt.timedelta(minutes=2)),
        StockHint(sku="MB-NEW", first_noticed_at=T0, reason="test"),
        SyncBatch(id=1, api="STO01", kinds="stock", state="complete", import_id="2001", sku_count=2, ok_count=1,
                  error_count=1, import_status="COMPLETE", error="", created_at=T0, sent_at=T0,
                  completed_at=T0 + dt.timedelta(seconds=40)),
        SyncBatch(id=2, api="OF01", kinds="stock,price", state="claimed", created_at=T0),
        SyncLane(api="STO01", active_batch_id=None, last_sent_at=T0),
        SyncLane(api="OF01", active_batch_id=2, last_sent_at=None),
        SkuPushLog(batch_id=1, kind="stock", sku="MB-OK", value="10", result="ok", message="",
                   first_noticed_at=T0 - dt.timedelta(seconds=3), read_at=T0, completed_at=T0 + dt.timedelta(seconds=40)),
        SkuPushLog(batch_id=1, kind="price", sku="MB-OK", value="21.99", result="error", message="refused",
                   first_noticed_at=None, read_at=None, completed_at=T0 + dt.timedelta(seconds=50)),
    ])
    session.flush()
    rules.put_rule(session, Kind.STOCK, Scope.GLOBAL, "", {"buffer": 2, "max_quantity": 30}, actor="ada",
                   note="seeded")
    rules.put_rule(session, Kind.PRICE, Scope.SKU, "MB-OK", {"markup_percent": 12.5, "rounding": "0.99"},
                   actor="eddie")


@pytest.fixture
def seeded(runtime):
    with runtime.db.session() as session:
        _seed(session)
    return runtime


def test_the_views_dump_to_the_dicts_of_before(seeded):
    with seeded.db.session() as session:
        for sku in ("MB-OK", "MB-ERR", "MB-NEW"):
            view = state.sku_view(session, sku)
            assert view is not None
            _same_json(view.model_dump(mode="json"), _old_sku_view(session, sku))
            _same_json([h.model_dump(mode="json") for h in state.sku_history(session, sku)],
                       _old_sku_history(session, sku))
        assert state.sku_view(session, "MB-NONE") is None and _old_sku_view(session, "MB-NONE") is None
        for result in (None, "ok", "error"):
            _same_json([r.model_dump(mode="json") for r in state.list_states(session, result=result)],
                       _old_list_states(session, result=result))
        _same_json([r.model_dump(mode="json") for r in state.list_states(session, limit=1, offset=1)],
                   _old_list_states(session, limit=1, offset=1))
        _same_json([b.model_dump(mode="json") for b in state.list_batches(session)], _old_list_batches(session))
        _same_json(state.summary(session).model_dump(mode="json"), _old_summary(session))
        for kind in (None, Kind.STOCK, Kind.PRICE):
            _same_json([r.model_dump(mode="json") for r in rules.list_rules(session, kind)],
                       _old_list_rules(session, kind))
        saved = rules.put_rule(session, Kind.STOCK, Scope.GLOBAL, "", {"buffer": 3}, actor="ada", note="again")
        row = session.get(StockRule, saved.id)
        assert row is not None
        _same_json(saved.model_dump(mode="json"), _old_rule_to_dict(row))
        # the seeded rows are what they claim to be: the comparison covers NULLs and both outboxes
        ok = _old_sku_view(session, "MB-OK")
        assert ok is not None and ok["stock"]["outbox"]["pending"] == "9" and ok["price"]["outbox"]["in_flight"]
        new = _old_sku_view(session, "MB-NEW")
        assert new is not None and new["stock"]["target_qty"] is None and new["stock"]["outbox"] is None


@pytest.fixture
def api(seeded):
    with seeded.db.session() as s:
        people = SqlPeopleRepository(s)
        user = auth.create_user(people, "eve", Role.ECOMMERCE, "correct horse battery")
        token = auth.create_token(people, user)
    with TestClient(create_app(seeded, start_engine=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        client.runtime = seeded
        yield client


def test_the_http_json_of_the_stock_routes_is_unchanged(api):
    runtime = api.runtime
    with runtime.db.session() as session:
        expected = {
            "/api/stock/summary": _old_summary(session),
            "/api/stock/batches": _old_list_batches(session),
            "/api/stock": _old_list_states(session),
            "/api/stock?result=error": _old_list_states(session, result="error"),
            "/api/stock/history/MB-OK": _old_sku_history(session, "MB-OK"),
            "/api/stock/MB-OK": _old_sku_view(session, "MB-OK"),
            "/api/stock/MB-NEW": _old_sku_view(session, "MB-NEW"),
            "/api/rules": _old_list_rules(session),
            "/api/rules?kind=price": _old_list_rules(session, Kind.PRICE),
        }
    for path, old in expected.items():
        response = api.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.json() == json.loads(json.dumps(old)), path
        _same_json(response.json(), old)
    assert api.get("/api/stock/MB-NONE").status_code == 404

    created = api.post("/api/rules", json={"kind": "stock", "scope": "sku", "scope_key": "MB-ERR",
                                           "params": {"buffer": 1}, "note": "n"})
    assert created.status_code == 201, created.text
    body = created.json()
    with runtime.db.session() as session:
        row = session.get(StockRule, body["id"])
        assert row is not None
        old = _old_rule_to_dict(row)
    # the shape of before: the rule's dict, then what recomputing queued
    assert list(body) == [*old, "requeued"] and {k: body[k] for k in old} == json.loads(json.dumps(old))
    assert set(body["requeued"]) == {"stock", "price"} and all(isinstance(v, int) for v in body["requeued"].values())
    removed = api.delete(f"/api/rules/{body['id']}")
    assert removed.status_code == 200
    assert list(removed.json()) == ["deleted", "requeued"] and removed.json()["deleted"] == body["id"]
    assert set(removed.json()["requeued"]) == {"stock", "price"}


#: Each JSON route of the stock area and the named schema /openapi.json gives its 2xx response.
SHAPES = {
    ("get", "/api/stock/summary"): ("object", "StockSummary"),
    ("get", "/api/stock/batches"): ("array", "BatchView"),
    ("get", "/api/stock"): ("array", "SkuStateRow"),
    ("get", "/api/stock/history/{sku}"): ("array", "PushedValue"),
    ("get", "/api/stock/{sku}"): ("object", "SkuStockView"),
    ("get", "/api/rules"): ("array", "RuleView"),
    ("post", "/api/rules"): ("object", "RuleSaved"),
    ("delete", "/api/rules/{rule_id}"): ("object", "RuleRemoved"),
}


def test_openapi_names_the_shapes_of_the_stock_routes(api):
    spec = api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    paths = {path.replace("{sku:path}", "{sku}"): item for path, item in spec["paths"].items()}
    for (method, path), (kind, name) in SHAPES.items():
        responses = paths[path][method]["responses"]
        ok = next(body for code, body in responses.items() if code.startswith("2"))
        schema = ok["content"]["application/json"]["schema"]
        ref = schema["items"]["$ref"] if kind == "array" else schema["$ref"]
        assert schema.get("type", "object") == kind and ref == f"#/components/schemas/{name}", (path, schema)
        assert schemas[name]["properties"], name
    view = schemas["SkuStockView"]["properties"]
    assert set(view) == {"sku", "product", "stock", "price", "last_noticed_at", "waiting_for_magento_read"}
    assert view["stock"]["$ref"] == "#/components/schemas/StockSide"
    assert view["price"]["$ref"] == "#/components/schemas/PriceSide"
    assert schemas["StockSummary"]["properties"]["lanes"]["items"]["$ref"] == "#/components/schemas/LaneView"
    assert set(schemas["RuleSaved"]["properties"]) == {*schemas["RuleView"]["properties"], "requeued"}


def test_the_cli_json_is_unchanged_and_the_tables_still_print(seeded):
    """``marketbridge stock ... --json`` prints the JSON of before (``show --history N`` adds the
    history after the view's keys); the human tables read the typed views."""
    from typer.testing import CliRunner

    from marketbridge.cli.main import app as cli

    runner = CliRunner()
    env = {"MARKETBRIDGE_DATABASE_URL": seeded.settings.database_url}
    with seeded.db.session() as session:
        shown = _old_sku_view(session, "MB-OK")
        assert shown is not None
        shown["history"] = _old_sku_history(session, "MB-OK", limit=5)
        expected = {
            ("stock", "show", "MB-OK", "--json", "--history", "5"): shown,
            ("stock", "show", "MB-ERR", "--json"): _old_sku_view(session, "MB-ERR"),
            ("stock", "list", "--json"): _old_list_states(session),
            ("stock", "list", "--json", "--result", "error"): _old_list_states(session, result="error"),
            ("stock", "batches", "--json"): _old_list_batches(session, limit=20),
            ("stock", "summary"): _old_summary(session),
            ("rules", "list", "--json"): _old_list_rules(session),
        }
    for args, old in expected.items():
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == 0, (args, result.output)
        assert result.output == json.dumps(old, indent=2, default=str) + "\n", args
    for args in (["stock", "show", "MB-OK", "--history", "5"], ["stock", "show", "MB-NEW"], ["stock", "list"],
                 ["stock", "batches"], ["rules", "list"]):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, (args, result.output)
    table = runner.invoke(cli, ["stock", "show", "MB-OK", "--history", "5"], env=env).output
    assert "41.2" in table and '"pending": "9"' in table and "refused" in table
    assert "markup_percent=12.5" in runner.invoke(cli, ["rules", "list"], env=env).output
    assert runner.invoke(cli, ["stock", "show", "MB-NONE"], env=env).exit_code == 1
