"""The stock and price flow against both sandboxes over real HTTP, with a real database."""

from __future__ import annotations

import re

import httpx2
import pytest
from sqlalchemy import select

from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.models.stock import SkuState, SyncBatch
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.stock import Kind, Scope
from marketbridge.services.stock import outbox, state
from marketbridge.services.stock import poll as stock_poll
from marketbridge.services.stock import push as stock_push
from marketbridge.services.stock import refresh as stock_refresh
from marketbridge.services.stock.rules import put_rule
from tests.conftest import make_settings


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes))
    yield runtime
    runtime.close()


def offer(boxes, sku: str) -> dict:
    return httpx2.get(f"{boxes.mirakl_url}/_sandbox/offers/{sku}").json()


def set_stock(boxes, sku: str, qty: float, source: str = "default") -> None:
    r = httpx2.post(f"{boxes.magento_url}/_sandbox/stock", json={"sku": sku, "qty": qty, "source_code": source})
    assert r.status_code == 200, r.text


def hint(rt, sku: str) -> None:
    """Notice a change of ``sku`` (what a webhook or the poll would do)."""
    with rt.db.session() as session:
        outbox.note_hints(session, [sku], reason="test")


def simple_on_marketplace(boxes) -> list[str]:
    from marketbridge.sandbox.catalogue import seed_catalogue

    return [p.sku for p in seed_catalogue(120, 7) if p.type_id == "simple" and p.on_marketplace
            and p.marketplace_sku == p.sku and p.status == 1 and p.manage_stock]


def test_full_resync_then_a_change_reaches_the_offer(rt, fresh_sandboxes):
    boxes = fresh_sandboxes
    result = stock_poll.full_resync(rt)
    assert result.skus > 100 and result.applied.stock_enqueued > 100
    outcomes = stock_push.push_now(rt)
    apis = {o.api for o in outcomes}
    assert "STO01" in apis and "PRI01" in apis
    sku = simple_on_marketplace(boxes)[0]
    set_stock(boxes, sku, 37)
    hint(rt, sku)
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == 37
    with rt.db.session() as session:
        view = state.sku_view(session, sku)
    assert view.stock.published_qty == 37
    assert view.stock.result == "ok"
    assert view.stock.import_id
    assert view.stock.latency_seconds is not None


def test_rules_apply_and_unknown_offer_becomes_an_ecommerce_issue(rt, fresh_sandboxes):
    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[1]
    set_stock(boxes, sku, 50)
    with rt.db.session() as session:
        put_rule(session, Kind.STOCK, Scope.GLOBAL, "", {"buffer": 2}, actor="test")
        put_rule(session, Kind.STOCK, Scope.SKU, sku, {"max_quantity": 10}, actor="test")
        outbox.note_hints(session, [sku, "MB-TRAILING-0001"], reason="test")
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == 10
    with rt.db.session() as session:
        row = session.get(SkuState, sku)
        assert row.stock_rule == "global+sku:" + sku
        exc = session.scalars(select(IssueRecord).where(IssueRecord.object_id == "MB-TRAILING-0001")).all()
        assert [e.type for e in exc] == ["stock_sku_unknown_on_marketplace"]
        assert exc[0].owner == "ecommerce"


def test_products_the_catalogue_excludes_get_no_push_and_no_issue(rt, fresh_sandboxes):
    from marketbridge.sandbox.catalogue import CUSTOM_OPTION_SKU, VIRTUAL_SKU
    from marketbridge.services.catalogue import set_override

    with rt.db.session() as session:
        outbox.note_hints(session, [CUSTOM_OPTION_SKU, VIRTUAL_SKU], price=True, reason="test")
    stock_push.push_now(rt)
    with rt.db.session() as session:
        for sku in (CUSTOM_OPTION_SKU, VIRTUAL_SKU):
            row = session.get(SkuState, sku)
            assert row.stock_rule.startswith("not on the marketplace:"), row.stock_rule
            assert row.target_qty is None and row.published_qty is None and row.stock_pushed_at is None
        assert outbox.pending_count(session, [Kind.STOCK, Kind.PRICE]) == 0
        assert session.scalars(select(IssueRecord)).all() == []
        # An explicit publish_as_simple rule makes the engraved product an offer: now it is pushed
        # (and, having no offer in this sandbox yet, comes back as unknown).
        set_override(rt.catalogue_store.on_session(session), CUSTOM_OPTION_SKU, "publish_as_simple",
                     actor="test")  # queues the SKU itself
    stock_push.push_now(rt)
    with rt.db.session() as session:
        assert session.get(SkuState, CUSTOM_OPTION_SKU).stock_pushed_at is not None
        types = session.scalars(select(IssueRecord.type).where(IssueRecord.object_id == CUSTOM_OPTION_SKU))
        assert list(types) == ["stock_sku_unknown_on_marketplace"]


def test_a_confirmed_sku_link_carries_stock_to_the_marketplace_offer_sku(rt, fresh_sandboxes):
    from marketbridge.sandbox.catalogue import TRAILING_SPACE_SKU
    from marketbridge.services import skus

    boxes = fresh_sandboxes
    set_stock(boxes, TRAILING_SPACE_SKU, 7)
    with rt.db.session() as session:
        outbox.note_hints(session, [TRAILING_SPACE_SKU], reason="test")
    stock_push.push_now(rt)
    with rt.db.session() as session:
        exc = session.scalars(select(IssueRecord).where(IssueRecord.object_id == TRAILING_SPACE_SKU)).one()
        assert exc.type == "stock_sku_unknown_on_marketplace" and exc.state == "open"
        skus.link(session, TRAILING_SPACE_SKU + " ", TRAILING_SPACE_SKU, confirmed_by="ecommerce@test")
    stock_push.push_now(rt)  # the link itself queued the SKU again
    assert offer(boxes, TRAILING_SPACE_SKU + " ")["quantity"] == 7
    with rt.db.session() as session:
        row = session.get(SkuState, TRAILING_SPACE_SKU)
        assert row.published_qty == 7 and row.stock_result == "ok"
        exc = session.scalars(select(IssueRecord).where(IssueRecord.object_id == TRAILING_SPACE_SKU)).one()
        assert exc.state == "resolved"


def test_a_failed_upload_is_requeued_not_lost(rt, fresh_sandboxes):
    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[2]
    set_stock(boxes, sku, 21)
    httpx2.post(f"{boxes.mirakl_url}/_sandbox/faults",
                json={"rules": [{"endpoint": "STO01", "error_rate": 1.0}]}).raise_for_status()
    hint(rt, sku)
    stock_refresh.refresh(rt)
    batch_ids = stock_push.claim_all(rt)
    outcomes = [stock_push.upload(rt, b) for b in batch_ids]
    assert stock_push.UploadResult(state="failed", api="STO01", import_id=None) in outcomes
    with rt.db.session() as session:
        assert outbox.pending_count(session, [Kind.STOCK]) == 1  # back in the outbox
        exc = session.scalars(select(IssueRecord).where(IssueRecord.type == "stock_import_failed")).one()
        assert exc.state == "open" and exc.owner == "ops"
    httpx2.delete(f"{boxes.mirakl_url}/_sandbox/faults").raise_for_status()
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == 21
    with rt.db.session() as session:
        states = [b.state for b in session.scalars(select(SyncBatch).where(SyncBatch.api == "STO01"))]
    assert "failed" in states and states[-1] == "complete"
    with rt.db.session() as session:
        exc = session.scalars(select(IssueRecord).where(IssueRecord.type == "stock_import_failed")).one()
        assert exc.state == "resolved"


def test_json_api_and_cli_show_the_same_per_sku_state(rt, fresh_sandboxes):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from marketbridge.cli.main import app as cli
    from marketbridge.domain.auth import Role
    from marketbridge.services import auth
    from marketbridge.web.app import create_app

    sku = simple_on_marketplace(fresh_sandboxes)[3]
    set_stock(fresh_sandboxes, sku, 12)
    with rt.db.session() as session:
        outbox.note_hints(session, [sku], reason="test")
        user = auth.create_user(SqlPeopleRepository(session), "ecom", Role.ADMIN, "a-long-password-1")
        token = auth.create_token(SqlPeopleRepository(session), user)
    stock_push.push_now(rt)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(rt, start_engine=False)) as client:
        assert client.get(f"/api/stock/{sku}").status_code == 401
        body = client.get(f"/api/stock/{sku}", headers=headers).json()
        assert body["stock"]["published_qty"] == 12 and body["stock"]["result"] == "ok"
        assert client.get("/api/stock/NOPE-1", headers=headers).status_code == 404
        history = client.get(f"/api/stock/history/{sku}", headers=headers).json()
        assert [h["value"] for h in history if h["kind"] == "stock"] == ["12"]
        created = client.post("/api/rules", headers=headers, json={
            "kind": "stock", "scope": "sku", "scope_key": sku, "params": {"max_quantity": 5}})
        assert created.status_code == 201, created.text
        assert created.json()["requeued"]["stock"] == 1
        bad = client.post("/api/rules", headers=headers, json={"kind": "stock", "scope": "global", "params": {"buffer": -1}})
        assert bad.status_code == 422 and "0 or more" in bad.text
        assert [r["scope_key"] for r in client.get("/api/rules", headers=headers).json()] == [sku]
    stock_push.push_now(rt)
    assert offer(fresh_sandboxes, sku)["quantity"] == 5
    runner = CliRunner()
    env = {"MARKETBRIDGE_DATABASE_URL": rt.settings.database_url}
    shown = runner.invoke(cli, ["stock", "show", sku, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    import json as _json

    assert _json.loads(shown.output)["stock"]["published_qty"] == 5
    listed = runner.invoke(cli, ["rules", "list"], env=env)
    assert listed.exit_code == 0 and "max_quantity=5" in listed.output


def test_full_resync_reads_salable_quantities_from_magentos_export_with_reservations(rt, fresh_sandboxes):
    """export mode (default): one bulk read counts reservations; no per-SKU read for open orders,
    and the values equal what bulk mode (scan + exact reads of open-order SKUs) publishes."""
    from marketbridge.sandbox.magento.testing import place_cart_order

    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[1]
    set_stock(boxes, sku, 9)
    with httpx2.Client(base_url=f"{boxes.magento_url}/rest/all",
                       headers={"Authorization": "Bearer sandbox-magento-token"}, timeout=10) as http:
        place_cart_order(http, [{"sku": sku, "qty": 3}])
    salable = rt.magento.salable_quantity(sku, 1)
    assert rt.settings.stock_salable_read == "export"
    result = stock_poll.full_resync(rt)
    assert result.exported >= result.products_read > 100
    assert result.exact_reads == 0
    with rt.db.session() as session:
        by_export = dict(session.execute(select(SkuState.sku, SkuState.magento_qty)).all())
    assert by_export[sku] == salable  # the 3 reserved units are not offered
    bulk = build_runtime(make_settings(rt.settings.database_url, boxes, stock_salable_read="bulk"))
    try:
        again = stock_poll.full_resync(bulk)
        assert again.exported == 0 and again.exact_reads >= 1  # the open order's SKU, read exactly
        with bulk.db.session() as session:
            by_bulk = dict(session.execute(select(SkuState.sku, SkuState.magento_qty)).all())
    finally:
        bulk.close()
    assert by_bulk == by_export


def test_a_burst_refresh_reads_only_the_hinted_skus_in_bulk_and_the_window_countdown(migrated_db_url, fresh_sandboxes):
    """Past the exact-read limit, a refresh of a few SKUs reads them 100 a call (source items and
    the salable export), not the whole catalogue; and the tick knows when the window reopens."""
    boxes = fresh_sandboxes
    runtime = build_runtime(make_settings(migrated_db_url, boxes, stock_exact_read_max=0))
    try:
        stock_poll.full_resync(runtime)
        stock_push.push_now(runtime)
        wait = stock_push.seconds_to_window(runtime)
        assert wait is None or 0 < wait <= stock_push.import_interval(runtime.settings)
        skus = simple_on_marketplace(boxes)[:5]
        for n, sku in enumerate(skus):
            set_stock(boxes, sku, 20 + n)
        before = len(httpx2.get(f"{boxes.magento_url}/_sandbox/calls").json())
        with runtime.db.session() as session:
            outbox.note_hints(session, skus, reason="test")
        stock_refresh.refresh(runtime)
        calls = httpx2.get(f"{boxes.magento_url}/_sandbox/calls").json()[before:]
        paths = [c.get("path", "") for c in calls]
        assert sum("export-stock-salable-qty" in p for p in paths) == 1  # 5 SKUs: one "sku in" page
        assert sum(p.endswith("/V1/inventory/source-items") for p in paths) == 1
        assert not any("get-product-salable-quantity" in p for p in paths)
        with runtime.db.session() as session:
            qty = dict(session.execute(select(SkuState.sku, SkuState.magento_qty).where(SkuState.sku.in_(skus))).all())
        assert qty == {sku: runtime.magento.salable_quantity(sku, 1) for sku in skus}
    finally:
        runtime.close()


def test_the_poll_finds_missed_changes_and_does_not_reread_a_quiet_catalogue(rt, fresh_sandboxes):
    import time

    boxes = fresh_sandboxes
    stock_poll.full_resync(rt)
    stock_push.push_now(rt)
    first = stock_poll.poll(rt)  # sets the cursors: the first look reads no product (the resync did)
    assert first.product_skus == 0
    sku = simple_on_marketplace(boxes)[3]
    set_stock(boxes, sku, 29)  # no webhook reaches the service: only the poll can notice
    time.sleep(2.5)
    second = stock_poll.poll(rt)
    assert second.source_changes == 1
    stock_push.push_now(rt)
    assert offer(boxes, sku)["quantity"] == 29
    time.sleep(2.5)
    third = stock_poll.poll(rt)
    # Nothing saved since: neither source items nor products are hinted again (the product cursor
    # follows Magento's clock, not the newest product, which is the seed's for the whole catalogue).
    assert (third.source_changes, third.product_skus) == (0, 0)


def unmanaged_on_marketplace() -> list[str]:
    from marketbridge.sandbox.catalogue import seed_catalogue

    return [p.sku for p in seed_catalogue(120, 7) if p.type_id == "simple" and p.on_marketplace
            and p.marketplace_sku == p.sku and p.status == 1 and not p.manage_stock]


@pytest.mark.parametrize("how", ["full resync", "bulk refresh"])
def test_products_that_do_not_manage_stock_publish_the_configured_default(rt, fresh_sandboxes, how):
    """Magento's export answers qty 0 / salable for them and the list API has no stock item: found
    by the full soak, where they were published with their source quantity."""
    skus = unmanaged_on_marketplace()
    assert skus, "the seed has products that do not manage stock"
    if how == "full resync":
        stock_poll.full_resync(rt)
    else:  # many hints at once take the bulk path (export + source items), as a burst or the poll does
        from marketbridge.sandbox.catalogue import seed_catalogue

        with rt.db.session() as session:
            outbox.note_hints(session, [p.sku for p in seed_catalogue(120, 7)], reason="test")
    stock_push.push_now(rt)
    default = rt.settings.stock_unmanaged_default_quantity
    for sku in skus:
        assert offer(fresh_sandboxes, sku)["quantity"] == default, sku
        with rt.db.session() as session:
            assert session.get(SkuState, sku).manage_stock is False


def test_the_cli_pushes_from_its_own_process_and_reports_each_batch_when_asked_to_wait(rt, fresh_sandboxes):
    """``marketbridge sync stock --wait``: poll, push every pending value from the CLI (no running
    service), and print one line a batch with its API, state and per-line results."""
    from typer.testing import CliRunner

    from marketbridge.cli.main import app as cli

    sku = simple_on_marketplace(fresh_sandboxes)[4]
    set_stock(fresh_sandboxes, sku, 23)
    hint(rt, sku)
    env = {"MARKETBRIDGE_DATABASE_URL": rt.settings.database_url,
           "MARKETBRIDGE_MAGENTO_BASE_URL": fresh_sandboxes.magento_url,
           "MARKETBRIDGE_MIRAKL_BASE_URL": fresh_sandboxes.mirakl_url, "MARKETBRIDGE_MIRAKL_RATE_LIMIT_SCALE": "0.01"}
    result = CliRunner().invoke(cli, ["sync", "stock", "--wait"], env=env)
    assert result.exit_code == 0, result.output
    assert re.search(r"batch \d+ STO01: complete ok=\d+ errors=\d+", result.output), result.output
    assert "Done in" in result.output
    assert offer(fresh_sandboxes, sku)["quantity"] == 23


def _unassign(boxes, sku: str) -> None:
    """Delete every source item of ``sku``: it is no longer assigned to the stock."""
    with httpx2.Client(base_url=f"{boxes.magento_url}/rest/all",
                       headers={"Authorization": "Bearer sandbox-magento-token"}, timeout=10) as http:
        body = {"sourceItems": [{"sku": sku, "source_code": c} for c in ("default", "warehouse-2")]}
        http.post("/V1/inventory/source-items-delete", json=body).raise_for_status()


def _order(boxes, sku: str, qty: int) -> None:
    from marketbridge.sandbox.magento.testing import place_cart_order

    with httpx2.Client(base_url=f"{boxes.magento_url}/rest/all",
                       headers={"Authorization": "Bearer sandbox-magento-token"}, timeout=10) as http:
        place_cart_order(http, [{"sku": sku, "qty": qty}])


def test_full_resync_with_an_unassigned_sku_in_the_middle_reads_every_sku(rt, fresh_sandboxes):
    """magento/inventory#3416: the export leaves an unassigned SKU out of its page. The resync
    still reads every page, with reservations, and reads the left-out SKU as 0 without a call."""
    boxes = fresh_sandboxes
    rt.magento.max_page_size = 25  # several export pages over the 120-product catalogue
    skus = simple_on_marketplace(boxes)
    unassigned, late = skus[1], skus[-1]
    _unassign(boxes, unassigned)
    set_stock(boxes, late, 9)
    _order(boxes, late, 3)
    result = stock_poll.full_resync(rt)
    assert result.exported == result.products_read - 1  # every page, whatever its row count
    assert result.exact_reads == 0  # nothing read one SKU at a time
    with rt.db.session() as session:
        qty = dict(session.execute(select(SkuState.sku, SkuState.magento_qty)).all())
    assert qty[late] == 6 == rt.magento.salable_quantity(late, 1)  # the 3 reserved are not offered
    assert qty[unassigned] == 0


def test_a_large_refresh_never_offers_what_the_export_left_out_without_reservations(migrated_db_url, fresh_sandboxes):
    """A refresh of most of the catalogue reads the export; a SKU it did not list is read with
    reservations (or as 0), never as its source quantity, which would offer units already sold."""
    boxes = fresh_sandboxes
    runtime = build_runtime(make_settings(migrated_db_url, boxes, stock_exact_read_max=0))
    try:
        stock_poll.full_resync(runtime)
        runtime.magento.max_page_size = 25
        skus = simple_on_marketplace(boxes)
        unassigned, late = skus[1], skus[-1]
        _unassign(boxes, unassigned)
        set_stock(boxes, late, 9)
        _order(boxes, late, 3)
        with runtime.db.session() as session:
            outbox.note_hints(session, skus, reason="test")  # more than a quarter: a whole scan
        stock_refresh.refresh(runtime)
        with runtime.db.session() as session:
            qty = dict(session.execute(select(SkuState.sku, SkuState.magento_qty)).all())
        assert qty[late] == 6 == runtime.magento.salable_quantity(late, 1)
        assert qty[unassigned] == 0
    finally:
        runtime.close()


def test_the_published_stock_is_the_stock_of_the_website_orders_reserve_on(rt, fresh_sandboxes):
    """A merchant who sells from a stock of its own: the resync reads the stock the configured
    website resolves to, where Adobe Commerce reserves the website's orders, not stock 1."""
    from tests.contract.test_magento_stock_resolver import move_website_to_a_new_stock

    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[2]
    set_stock(boxes, sku, 10)
    set_stock(boxes, sku, 6, source="warehouse-2")
    with httpx2.Client(base_url=f"{boxes.magento_url}/rest/all",
                       headers={"Authorization": "Bearer sandbox-magento-token"}, timeout=10) as http:
        stock_id = move_website_to_a_new_stock(http)
    _order(boxes, sku, 4)
    assert rt.settings.magento_stock_id is None and rt.settings.magento_website_code == "base"
    stock_poll.full_resync(rt)
    assert rt.stock_id == stock_id
    with rt.db.session() as session:
        qty = dict(session.execute(select(SkuState.sku, SkuState.magento_qty)).all())
    assert qty[sku] == 6 - 4 == rt.magento.salable_quantity(sku, stock_id)


def test_an_upload_refused_for_rate_is_a_deferral_said_on_the_budget_page_not_a_failure(rt, fresh_sandboxes):
    """Mirakl answers STO01 with 429 and an hour's Retry-After (beyond the client's wait): the batch
    is deferred, its values wait in the outbox, no issue is raised, and the stock flow shows as
    waiting for STO01 with the hour ahead."""
    from marketbridge.call_flow import acting_as
    from marketbridge.services import budgets as budget_service

    boxes = fresh_sandboxes
    sku = simple_on_marketplace(boxes)[2]
    set_stock(boxes, sku, 13)
    httpx2.post(f"{boxes.mirakl_url}/_sandbox/faults",
                json={"rules": [{"endpoint": "STO01", "rate_limit_rate": 1.0, "retry_after": 3600}]}).raise_for_status()
    try:
        hint(rt, sku)
        stock_refresh.refresh(rt)
        with acting_as("stock"):
            outcomes = [stock_push.upload(rt, b) for b in stock_push.claim_all(rt)]
    finally:
        httpx2.delete(f"{boxes.mirakl_url}/_sandbox/faults").raise_for_status()
    assert stock_push.UploadResult(state="deferred", api="STO01") in outcomes
    with rt.db.session() as session:
        assert outbox.pending_count(session, [Kind.STOCK]) == 1  # back in the outbox, not lost
        assert not session.scalars(select(IssueRecord).where(IssueRecord.type == "stock_import_failed")).all()
    report = budget_service.report(rt)
    assert any(line.startswith("stock: waiting for STO01, next slot in") for line in report.waiting_lines()), \
        report.deferral_lines()
    sto01 = next(api for api in report.apis if api.api == "STO01")
    assert sto01.next_free_in > 3000  # the limiter keeps Mirakl's Retry-After
    assert {f.flow: f.last_hour for f in sto01.flows} == {"stock": 1}  # the one 429'd attempt
