"""The console on top of the flows: pages show each flow's records, and issue actions call the
flows' own services against the sandboxes over real HTTP (map a carrier, accept a held order)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord, User
from marketbridge.adapters.db.orders import SqlOrdersRepository
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.domain.issues import IssueReport, get_type
from marketbridge.services import auth
from marketbridge.services import issues as issue_service
from marketbridge.web.app import create_app
from tests.conftest import make_settings
from tests.integration.test_orders_service import read_orders

PASSWORD = "correct horse battery"


@pytest.fixture
def live_runtime(migrated_db_url: str, sandboxes: Any) -> Iterator[Any]:
    runtime = build_runtime(make_settings(migrated_db_url, sandboxes))
    yield runtime
    runtime.close()


def _login(client: TestClient, name: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303
    return re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/").text).group(1)


def _user(runtime: Any, name: str, role: Role) -> None:
    with runtime.db.session() as s:
        auth.create_user(SqlPeopleRepository(s), name, role, PASSWORD)


def test_pages_show_orders_shipments_refunds_catalogue_and_audit(runtime: Any) -> None:
    from marketbridge.adapters.db.models.catalogue import AuditDrift, AuditRun, Listing
    from marketbridge.adapters.db.models.orders import MarketplaceOrder
    from marketbridge.adapters.db.models.refunds import RefundOut
    from marketbridge.adapters.db.models.shipments import ShipmentOut

    _user(runtime, "cara", Role.CUSTOMER_SERVICE)
    now = utcnow()
    with runtime.db.session() as s:
        s.add(MarketplaceOrder(connection=runtime.settings.order_connection, order_id="JL-000777-A", state="held",
                               marketplace_state="WAITING_ACCEPTANCE", marketplace_updated_at=now,
                               marketplace_created_at=now, acceptance_deadline=now + dt.timedelta(hours=2, minutes=30, seconds=30),
                               currency="GBP", total_price=59.5, reason="not enough stock for MB-000003"))
        s.add(MarketplaceOrder(connection=runtime.settings.order_connection, order_id="JL-000778-A", state="created",
                               marketplace_state="SHIPPING", marketplace_updated_at=now, marketplace_created_at=now,
                               currency="GBP", total_price=10.0, magento_increment_id="000000042",
                               raw={"shipping_deadline": (now + dt.timedelta(hours=5, minutes=10, seconds=30)).isoformat()}))
        s.add(ShipmentOut(magento_shipment_id=501, magento_increment_id="000000501", magento_order_id=9,
                          marketplace_order_id="JL-000777-A", state="waiting_carrier", tracking_number="TRK123"))
        s.add(RefundOut(creditmemo_id=81, creditmemo_increment_id="CM-81", order_id="JL-000777-A", status="held",
                        currency="GBP", problem="line already fully refunded"))
        s.add(Listing(magento_sku="MB-000009", offer_sku="MB-000009", status="rejected",
                      problems=["image missing"]))
        run = AuditRun(trigger="schedule", status="complete", magento_count=120, offer_count=119, drift_count=1,
                       counts={"price_mismatch": 1}, started_at=now, finished_at=now)
        s.add(run)
        s.flush()
        s.add(AuditDrift(run_id=run.id, kind="price_mismatch", magento_sku="MB-000010", expected="19.99",
                         actual="17.99", detail="price differs"))
    with TestClient(create_app(runtime, start_engine=False)) as client:
        _login(client, "cara")
        overview = client.get("/").text
        assert re.search(r"Order JL-000777-A is waiting for a decision — 2 h (29|30) min left", overview)
        assert "1 shipment(s) awaiting confirmation on John Lewis" in overview
        assert "1 credit memo(s) held" in overview
        assert "The last audit found 1 difference(s)" in overview
        orders = client.get("/orders").text
        assert "not enough stock for MB-000003" in orders and re.search(r"2 h (29|30) min left", orders)
        assert "Dispatch deadlines" in orders and re.search(r"5 h (9|10) min left", orders) and "000000042" in orders
        detail = client.get("/orders?q=JL-000777-A").text
        assert "Order JL-000777-A" in detail and "WAITING_ACCEPTANCE" in detail
        shipments = client.get("/shipments").text
        assert "000000501" in shipments and "Waiting for a carrier mapping" in shipments
        refunds = client.get("/refunds?status=held").text
        assert "CM-81" in refunds and "line already fully refunded" in refunds
        catalogue = client.get("/catalogue?status=rejected").text
        assert "MB-000009" in catalogue and "image missing" in catalogue
        audit = client.get("/audit").text
        assert "MB-000010" in audit and "19.99" in audit and "17.99" in audit
        assert "no stock record for NOPE" in client.get("/stock?sku=NOPE").text
        # customer service sees the editors but cannot change them
        assert "Only Ops (or an admin)" in client.get("/carriers").text
        assert "Only Ecommerce (or an admin)" in client.get("/rules").text
    with runtime.db.session() as s:
        people = SqlPeopleRepository(s)
        token = auth.create_token(people, s.scalars(select(User).where(User.name == "cara")).one())
    with TestClient(create_app(runtime, start_engine=False)) as client:
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert 'marketbridge_orders{state="held"} 1.0' in metrics
    assert "marketbridge_api_calls" in metrics or "# HELP marketbridge_imports" in metrics


def test_stock_rule_editor_saves_through_the_stock_service_and_checks_the_role(runtime: Any) -> None:
    _user(runtime, "eddie", Role.ECOMMERCE)
    _user(runtime, "olive", Role.OPS)
    with TestClient(create_app(runtime, start_engine=False)) as client:
        csrf = _login(client, "olive")
        denied = client.post("/rules", data={"csrf_token": csrf, "kind": "stock", "scope": "global", "buffer": "2"})
        assert denied.status_code == 403
    with TestClient(create_app(runtime, start_engine=False)) as client:
        csrf = _login(client, "eddie")
        saved = client.post("/rules", data={"csrf_token": csrf, "kind": "stock", "scope": "sku",
                                            "scope_key": "MB-000001", "buffer": "2", "max_quantity": "10"})
        assert saved.status_code == 200 and "Saved the stock rule" in saved.text
        bad = client.post("/rules", data={"csrf_token": csrf, "kind": "stock", "scope": "global",
                                          "allocation_percent": "250"})
        assert bad.status_code == 400 and "Not saved" in bad.text
        page = client.get("/rules").text
        assert "MB-000001" in page and "buffer: 2" in page and "max quantity: 10" in page
    from marketbridge.services.stock.rules import list_rules

    with runtime.db.session() as s:
        rules = list_rules(s)
        assert [(r.scope, r.scope_key, r.params) for r in rules] == [
            ("sku", "MB-000001", {"buffer": 2, "max_quantity": 10})]
        assert s.scalars(select(AuditLogEntry.actor).where(AuditLogEntry.action == "rule.put")).all() == ["eddie"]


def test_map_an_unknown_carrier_from_its_issue(live_runtime: Any) -> None:
    runtime = live_runtime
    _user(runtime, "olive", Role.OPS)
    unmapped = get_type("carrier_unmapped")
    with runtime.db.session() as s:
        record = issue_service.record(s, IssueReport(
            unmapped, "code:speedy|title:speedy parcels", "Carrier 'Speedy Parcels' has no John Lewis carrier code",
            context={"magento_carrier_code": "speedy", "title": "Speedy Parcels",
                     "suggestions": [{"code": "DPD", "label": "DPD UK"}]}))
        record_id = record.id
    with TestClient(create_app(runtime, start_engine=False)) as client:
        csrf = _login(client, "olive")
        card = client.get(f"/exceptions/{record_id}").text
        assert 'list="suggest-' in card and '<option value="DPD">DPD UK</option>' in card
        headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
        wrong = client.post(f"/exceptions/{record_id}/actions/map_carrier", headers=headers,
                            data={"marketplace_code": "NOT-A-CARRIER"})
        assert "is not on the marketplace carrier list" in wrong.text
        done = client.post(f"/exceptions/{record_id}/actions/map_carrier", headers=headers,
                           data={"marketplace_code": "DPD"})
        assert "now maps to DPD" in done.text
        assert "DPD" in client.get("/carriers").text
    from marketbridge.services.shipments import list_mappings

    with runtime.shipments_store.unit_of_work() as repo:
        assert [(m.magento_carrier_code, m.marketplace_code, m.created_by) for m in list_mappings(repo)] == [
            ("speedy", "DPD", "olive")]
    with runtime.db.session() as s:
        assert s.get(IssueRecord, record_id).state == "resolved"
        actions = s.scalars(select(AuditLogEntry.action).where(AuditLogEntry.actor == "olive")
                            .order_by(AuditLogEntry.id)).all()
        assert "carrier.map" in actions and "exception.map_carrier" in actions
        assert "exception.map_carrier.failed" in actions  # the refused attempt with a wrong code


def test_accept_a_held_order_from_its_issue(live_runtime: Any, sandboxes: Any) -> None:
    from marketbridge.services import orders

    runtime = live_runtime
    _user(runtime, "olive", Role.OPS)
    placed = httpx2.post(f"{sandboxes.mirakl_url}/_sandbox/orders",
                         json={"lines": [{"offer_sku": "MB-000001", "quantity": 1}]})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    read_orders(runtime)
    with runtime.db.session() as s:
        assert orders.get_order_record(SqlOrdersRepository(s), order_id, runtime.settings.order_connection).state == "received"
        record_id = issue_service.record(s, IssueReport(
            get_type("order_held"), order_id, f"Order {order_id} is held: a person must decide")).id
        olive_id = s.scalars(select(User.id).where(User.name == "olive")).one()
        token = auth.create_token(SqlPeopleRepository(s), s.get(User, olive_id))
    with TestClient(create_app(runtime, start_engine=False)) as client:
        accepted = client.post(f"/api/exceptions/{record_id}/actions", json={"action": "accept"},
                               headers={"Authorization": f"Bearer {token}"})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["exception"]["state"] == "resolved"
    marketplace = httpx2.get(f"{sandboxes.mirakl_url}/_sandbox/orders/{order_id}").json()
    assert marketplace["order_state"] != "WAITING_ACCEPTANCE"
    with runtime.db.session() as s:
        assert orders.get_order_record(SqlOrdersRepository(s), order_id, runtime.settings.order_connection).state != "received"
        actions = s.scalars(select(AuditLogEntry.action).where(AuditLogEntry.actor == "olive")).all()
        assert "order.accept" in actions and "exception.accept" in actions


def test_link_a_near_miss_sku_from_its_issue(runtime: Any) -> None:
    """The one flow action that writes in the request's own transaction (the action's unit of work):
    the link, its activity-log entry, the stock hint and the resolved issue commit together."""
    from marketbridge.adapters.db.models.catalogue import SkuLink
    from marketbridge.adapters.db.models.stock import StockHint
    from marketbridge.domain.catalogue import SKU_NEAR_MISS

    _user(runtime, "eddie", Role.ECOMMERCE)
    with runtime.db.session() as s:
        record_id = issue_service.record(s, IssueReport(
            SKU_NEAR_MISS, "MB-000001 ", "The offer SKU 'MB-000001 ' has a trailing space",
            context={"offer_sku": "MB-000001 ", "magento_sku": "MB-000001", "reason": "has a trailing space"})).id
    with TestClient(create_app(runtime, start_engine=False)) as client:
        csrf = _login(client, "eddie")
        done = client.post(f"/exceptions/{record_id}/actions/link_sku",
                           headers={"X-CSRF-Token": csrf, "HX-Request": "true"}, data={"magento_sku": "MB-000001"})
        assert done.status_code == 200 and "is now linked to Adobe Commerce SKU MB-000001" in done.text
    with runtime.db.session() as s:
        link = s.get(SkuLink, "MB-000001 ")
        assert link is not None and (link.magento_sku, link.confirmed_by) == ("MB-000001", "eddie")
        record = s.get(IssueRecord, record_id)
        assert (record.state, record.resolved_by) == ("resolved", "eddie")
        hint = s.get(StockHint, "MB-000001")
        assert hint is not None and hint.price and hint.force
        actions = s.scalars(select(AuditLogEntry.action).where(AuditLogEntry.actor == "eddie")
                            .order_by(AuditLogEntry.id)).all()
        assert [a for a in actions if a != "login"] == ["sku.link", "exception.link_sku"]
