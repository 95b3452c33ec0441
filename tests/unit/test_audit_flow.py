"""The audit's decisions on in-memory fakes of its ports (issue 18 item 2): storage
(``AuditStore``), Adobe Commerce and Mirakl. No database (``runtime.db`` fails the test if touched),
no HTTP: a run kept with its counts and drift rows, the stock flow's rules and the units sold not
yet in Adobe Commerce in the expected values, the once-a-day OF52 export, a failed run, the issues
raised in bulk, both ways of fixing, and the read views (JSON and CSV). The same paths against
SQLite/PostgreSQL and the sandboxes stay in tests/integration/test_catalogue_audit.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from marketbridge import ports
from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import ServerError
from marketbridge.bus import MessageBus
from marketbridge.domain.catalogue import OFFER_INACTIVE, OFFER_WITHOUT_PRODUCT, Drift, DriftKind
from marketbridge.domain.issues import IssueReport
from marketbridge.domain.stock import Kind, Rule, Scope
from marketbridge.runtime import Runtime
from marketbridge.services import audit
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.webhooks import WebhookHandlers
from marketbridge.settings import load_settings
from tests.fakes import FakeOrderRecords, NoDatabase
from tests.fakes_audit import (
    FakeAuditMagento,
    FakeAuditMirakl,
    FakeAuditRepository,
    FakeAuditStore,
    FakeEngine,
    FakeStockRecords,
)
from tests.fakes_refunds import FakeSkuLinks


class Flow:
    """One runtime whose ports are fakes (``runtime.db`` and the other flows' stores fail if used)."""

    def __init__(self, *, running: bool = False, **settings: object) -> None:
        self.store = FakeAuditStore()
        self.magento = FakeAuditMagento()
        self.mirakl = FakeAuditMirakl()
        self.engine = FakeEngine(running)
        self.runtime = Runtime(
            settings=load_settings(database_url="sqlite://", session_secret="x" * 48, **settings),
            db=NoDatabase(), bus=MessageBus(), engine=self.engine, webhook_handlers=WebhookHandlers(),
            flow_actions=FlowActions(), shipments_store=NoDatabase(), refunds_store=NoDatabase(),
            audit_store=self.store, orders_store=NoDatabase(), catalogue_store=NoDatabase(),
            people_store=NoDatabase(), alerts_store=NoDatabase(),
            console_store=NoDatabase(), order_feed_store=NoDatabase())
        self.runtime.magento = self.magento  # type: ignore[assignment]
        self.runtime.mirakl = self.mirakl  # type: ignore[assignment]

    def both(self, sku: str, qty: int, price: float = 10.0, **offer: object) -> None:
        """A product in Adobe Commerce and its offer, in agreement unless ``offer`` says otherwise."""
        self.magento.add(sku, qty=qty, price=price)
        self.mirakl.add(sku, **{"quantity": qty, "price": price, **offer})  # type: ignore[arg-type]


def kinds(outcome: audit.AuditOutcome) -> set[tuple[str, str | None]]:
    return {(d.kind.value, d.offer_sku or d.magento_sku) for d in outcome.drifts}


# --------------------------------------------------------------------------- running
def test_a_run_is_kept_with_its_counts_and_drift_rows() -> None:
    flow = Flow()
    flow.both("LAMP-1", 5)
    flow.both("LAMP-2", 3, price=12.5, quantity=9)  # confirmed: Magento still says 3
    flow.both("LAMP-3", 4, price=20.0)
    flow.mirakl.offers["LAMP-3"] = flow.mirakl.offers["LAMP-3"].model_copy(update={"price": 19.0})
    flow.mirakl.add("GHOST-1", quantity=1)

    outcome = audit.run_audit(flow.runtime, trigger="api")

    assert outcome.offer_source == "OF52" and flow.mirakl.calls[:3] == ["OF52", "OF53", "OF54"]
    assert kinds(outcome) == {("quantity_mismatch", "LAMP-2"), ("price_mismatch", "LAMP-3"),
                              ("offer_without_product", "GHOST-1")}
    assert flow.magento.salable_calls == ["LAMP-2"]  # only the suspect is re-read, not the catalogue
    run = flow.store.runs[outcome.run_id]
    assert (run.status, run.trigger, run.offer_source, run.fix) == ("complete", "api", "OF52", False)
    assert (run.magento_count, run.offer_count, run.drift_count) == (3, 4, 3)
    assert run.counts == outcome.counts and run.counts["quantity_mismatch"] == 1 and run.finished_at is not None
    rows = {(d.kind, d.offer_sku): d for d in flow.store.drift_rows}
    assert (rows[("quantity_mismatch", "LAMP-2")].expected, rows[("quantity_mismatch", "LAMP-2")].actual) == ("3", "9")
    assert (rows[("price_mismatch", "LAMP-3")].expected, rows[("price_mismatch", "LAMP-3")].actual) == ("20.00", "19.00")
    assert all(d.run_id == outcome.run_id and d.fix_action == "" for d in flow.store.drift_rows)
    assert flow.store.drift_inserts == 1  # every row in one bulk insert
    assert outcome.summary().drift_count == 3


def test_the_stock_rules_and_units_sold_decide_the_expected_quantity() -> None:
    flow = Flow()
    flow.store.stock.stored_rules = [Rule(kind=Kind.STOCK, scope=Scope.GLOBAL, scope_key="", params={"buffer": 1})]
    flow.both("LAMP-1", 6, quantity=5)  # 6 salable, 1 held back by the buffer: the offer is right
    flow.both("LAMP-2", 6, quantity=3)  # 2 sold on the marketplace, not yet in Magento: right too
    flow.both("LAMP-3", 6, quantity=1)  # really wrong
    flow.store.orders.sold = {"LAMP-2": 2.0}
    outcome = audit.run_audit(flow.runtime)
    assert kinds(outcome) == {("quantity_mismatch", "LAMP-3")}
    (drift,) = outcome.drifts
    assert (drift.expected, drift.actual) == ("5", "1")


def test_direct_created_orders_count_as_sold_until_they_ship() -> None:
    flow = Flow(order_creation_mode="direct")
    flow.both("LAMP-1", 6, quantity=4)
    flow.store.orders.sold_until_shipped = {"LAMP-1": 2.0}
    assert audit.run_audit(flow.runtime).drifts == []


def test_the_full_export_is_used_once_a_day_then_of21() -> None:
    flow = Flow()
    flow.both("LAMP-1", 5)
    flow.store.add_run(status="complete", offer_source="OF52", started_at=utcnow() - dt.timedelta(hours=1))
    outcome = audit.run_audit(flow.runtime)
    assert outcome.offer_source == "OF21" and flow.mirakl.calls == ["OF21"]
    assert flow.store.runs[outcome.run_id].offer_source == "OF21"
    flow.store.runs[1].started_at = utcnow() - dt.timedelta(days=2)
    assert audit.run_audit(flow.runtime).offer_source == "OF52"


def test_an_unavailable_export_falls_back_to_of21() -> None:
    flow = Flow()
    flow.both("LAMP-1", 5)
    flow.mirakl.export_fails = True
    outcome = audit.run_audit(flow.runtime)
    assert outcome.offer_source == "OF21" and outcome.offer_count == 1 and outcome.drifts == []


def test_a_failed_run_is_kept_as_failed_with_its_error() -> None:
    flow = Flow()
    flow.magento.fail_with = ServerError("Adobe Commerce is down", api="GET /V1/inventory/stock-source-links")
    with pytest.raises(ServerError):
        audit.run_audit(flow.runtime)
    (run,) = flow.store.runs.values()
    assert run.status == "failed" and "Adobe Commerce is down" in run.error and run.finished_at is not None
    assert flow.store.drift_rows == []


def test_the_confirmation_limit_keeps_the_rest_unconfirmed() -> None:
    flow = Flow(audit_confirm_limit=1)
    flow.both("LAMP-1", 5, quantity=1)
    flow.both("LAMP-2", 5, quantity=2)
    outcome = audit.run_audit(flow.runtime)
    assert len(flow.magento.salable_calls) == 1
    assert sorted(d.detail for d in outcome.drifts) == [
        "", "not re-checked with the salable-quantity API (confirmation limit reached)"]


# --------------------------------------------------------------------------- issues
def test_drift_that_needs_a_person_becomes_issues_in_bulk() -> None:
    store = FakeAuditStore()
    repo = FakeAuditRepository(store)
    kept = store.add_issue(OFFER_WITHOUT_PRODUCT.code, "GHOST-1", count=3)
    ignored = store.add_issue(OFFER_WITHOUT_PRODUCT.code, "GHOST-2", state="ignored")
    gone = store.add_issue(OFFER_INACTIVE.code, "LAMP-9")
    drifts = [Drift(DriftKind.OFFER_WITHOUT_PRODUCT, None, "GHOST-1", "", "GHOST-1"),
              Drift(DriftKind.OFFER_WITHOUT_PRODUCT, None, "GHOST-1", "", "GHOST-1"),  # once per object
              Drift(DriftKind.OFFER_WITHOUT_PRODUCT, None, "GHOST-2", "", "GHOST-2"),
              Drift(DriftKind.OFFER_INACTIVE, "LAMP-1", "LAMP-1", "active", "inactive", "CATEGORY_UNAUTHORIZED"),
              Drift(DriftKind.QUANTITY_MISMATCH, "LAMP-2", "LAMP-2", "3", "4")]
    audit.raise_issues(repo, drifts)
    assert store.issue_reads == 1
    assert (kept.count, kept.state) == (4, "open") and "GHOST-1" in kept.message
    assert (ignored.count, ignored.state, ignored.message) == (2, "ignored", "earlier")
    assert (gone.state, gone.resolved_by) == ("resolved", "system")
    (new,) = [r for r in store.issue_rows if r.object_id == "LAMP-1"]
    assert (new.type, new.state, new.count) == (OFFER_INACTIVE.code, "open", 1)
    assert new.context == {"inactivity_reasons": "CATEGORY_UNAUTHORIZED"} and "John Lewis" in new.message
    assert len(store.issue_rows) == 4  # nothing for a quantity mismatch


def test_record_many_leaves_other_types_alone() -> None:
    store = FakeAuditStore()
    other = store.add_issue("order_held", "JL-1")
    audit.record_many(FakeAuditRepository(store), [IssueReport(type=OFFER_WITHOUT_PRODUCT, object_id="X", message="m")],
                      types=(OFFER_WITHOUT_PRODUCT,))
    assert other.state == "open" and [r.object_id for r in store.issue_rows] == ["JL-1", "X"]


# --------------------------------------------------------------------------- fixing
def test_inside_the_service_fixes_go_through_the_stock_flow() -> None:
    flow = Flow(running=True)
    flow.both("LAMP-1", 5, quantity=9)
    flow.both("LAMP-2", 5, price=10.0)
    flow.mirakl.offers["LAMP-2"] = flow.mirakl.offers["LAMP-2"].model_copy(update={"price": 11.0})
    flow.mirakl.add("GHOST-1", quantity=1)
    outcome = audit.run_audit(flow.runtime, fix=True)
    assert flow.store.stock.resends == [(["LAMP-1"], ["LAMP-2"], "audit fix")]
    assert outcome.fixed == {"offers_repushed": 0, "products_republished": 0, "exceptions": 1, "offers_queued": 2}
    assert "OF01" not in flow.mirakl.calls and flow.store.imports == []
    actions = {d.offer_sku: (d.fix_action, d.fix_result) for d in flow.store.drift_rows}
    assert actions["LAMP-1"][0] == actions["LAMP-2"][0] == "stock_outbox"
    assert actions["GHOST-1"][0] == "exception"
    assert flow.store.runs[outcome.run_id].fixed == outcome.fixed and flow.store.runs[outcome.run_id].fix is True


def test_from_the_cli_no_fix_file_carries_a_blank_cell() -> None:
    """Issue 14 item 4: a quantity fix and a price fix on different offers (and both on a third)
    never share a file where one of them would be sent blank."""
    flow = Flow(running=False)
    flow.both("LAMP-1", 5, quantity=9)
    flow.both("LAMP-2", 5, price=10.0)
    flow.mirakl.offers["LAMP-2"] = flow.mirakl.offers["LAMP-2"].model_copy(update={"price": 11.0})
    flow.both("LAMP-3", 4, quantity=1, price=12.0)
    flow.mirakl.offers["LAMP-3"] = flow.mirakl.offers["LAMP-3"].model_copy(update={"price": 13.0})
    outcome = audit.run_audit(flow.runtime, fix=True)
    assert flow.mirakl.files, "nothing was sent"
    for columns, rows in flow.mirakl.files:
        assert all(row[c] != "" for row in rows for c in columns), (columns, rows)
    sent = {(c[1], r["sku"]) for c, rows in flow.mirakl.files for r in rows}
    assert sent == {("quantity", "LAMP-1"), ("price", "LAMP-2"), ("quantity", "LAMP-3"), ("price", "LAMP-3")}
    assert outcome.fixed["offers_repushed"] == 3
    assert [r.import_id for r in flow.store.imports] == ["IMP-1", "IMP-2"]


def test_from_the_cli_fixes_are_sent_as_our_own_of01_and_recorded() -> None:
    flow = Flow(running=False)
    flow.both("LAMP-1", 5, quantity=9)
    outcome = audit.run_audit(flow.runtime, fix=True)
    # only the column being fixed: a blank price cell in NORMAL mode would clear the offer's price
    assert flow.mirakl.files == [(["sku", "quantity"], [{"sku": "LAMP-1", "quantity": "5"}])]
    (record,) = flow.store.imports
    assert (record.api, record.import_id, record.skus, record.purpose) == ("OF01", "IMP-1", ["LAMP-1"], "audit_fix")
    assert (record.status, record.remote_status) == ("done", "COMPLETE") and record.finished_at is not None
    assert outcome.fixed["offers_repushed"] == 1 and flow.store.stock.resends == []
    (row,) = flow.store.drift_rows
    assert (row.fix_action, row.fix_result) == ("OF01", "ok")


# --------------------------------------------------------------------------- reading
def _stored_run(store: FakeAuditStore) -> int:
    run = store.add_run(status="complete", offer_source="OF21", drift_count=3, counts={"quantity_mismatch": 2})
    FakeAuditRepository(store).add_drifts([
        {"run_id": run.id, "kind": "quantity_mismatch", "magento_sku": "A", "offer_sku": "A", "expected": "1",
         "actual": "2", "detail": "", "fix_action": "", "fix_result": ""},
        {"run_id": run.id, "kind": "offer_without_product", "magento_sku": None, "offer_sku": '=HYPERLINK("x")',
         "expected": "", "actual": "", "detail": "", "fix_action": "", "fix_result": ""},
        {"run_id": run.id, "kind": "quantity_mismatch", "magento_sku": "B", "offer_sku": "B", "expected": "5",
         "actual": "0", "detail": "", "fix_action": "", "fix_result": ""}])
    return run.id


def test_the_read_views_of_runs_and_drift() -> None:
    store = FakeAuditStore()
    store.add_run(status="failed", error="boom")
    run_id = _stored_run(store)
    repo = FakeAuditRepository(store)
    runs = audit.list_runs(repo)
    assert [r.id for r in runs] == [run_id, 1] and runs[1].error == "boom"
    assert [r.id for r in audit.list_runs(repo, limit=1)] == [run_id]
    detail = audit.get_run(repo, run_id, kind="quantity_mismatch", limit=1)
    assert detail is not None and detail.counts == {"quantity_mismatch": 2}
    assert [(d.offer_sku, d.label) for d in detail.drifts] == [("A", "Quantity differs")]
    everything = audit.get_run(repo, run_id)
    assert everything is not None and [d.offer_sku for d in everything.drifts] == ["A", '=HYPERLINK("x")', "B"]
    assert audit.get_run(repo, 99) is None


def test_the_csv_download_quotes_formulas() -> None:
    store = FakeAuditStore()
    run_id = _stored_run(store)
    text = audit.run_csv(FakeAuditRepository(store), run_id)
    assert text is not None
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["offer_sku"] for r in rows] == ["A", "'=HYPERLINK(\"x\")", "B"]
    assert rows[0]["label"] == "Quantity differs" and list(rows[0]) == audit.reading.CSV_COLUMNS
    assert audit.run_csv(FakeAuditRepository(store), 99) is None


# --------------------------------------------------------------------------- the fakes keep up
@pytest.mark.parametrize(("port", "fake"), [
    (ports.AuditStore, FakeAuditStore), (ports.AuditRepository, FakeAuditRepository),
    (ports.StockRecords, FakeStockRecords), (ports.OrderRecords, FakeOrderRecords), (ports.SkuLinks, FakeSkuLinks)])
def test_each_storage_fake_has_every_member_of_its_port(port: type, fake: type) -> None:
    """mypy proves the SQLAlchemy store fits the ports; this keeps the fakes whole as the ports grow."""
    members = {name for name in vars(port) if not name.startswith("_")}
    assert members and {name for name in members if not hasattr(fake, name)} == set()
