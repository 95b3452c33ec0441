"""The catalogue flow's decisions on in-memory fakes of its ports (issue 18 item 2): storage
(``CatalogueStore``), Adobe Commerce and Mirakl. No database (``runtime.db`` fails the test if
touched), no HTTP: how new products are discovered (the baseline, the cursor), prepared (excluded,
invalid with an issue, or queued with their P41 and OF01 rows), sent (once per call frequency, a 429
deferring), followed to a listing status (rejected with the reasons, live, inactive), and what the
mapping edits, publish rules and read views do. The same paths against SQLite/PostgreSQL and the
sandboxes stay in tests/integration/test_catalogue_publish.py and tests/e2e/test_catalogue_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from marketbridge import ports
from marketbridge.adapters.db import catalogue as catalogue_adapter
from marketbridge.adapters.mirakl.client import ImportLineError
from marketbridge.bus import MessageBus
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import PRODUCT_INVALID, PRODUCT_REJECTED, OverrideAction
from marketbridge.domain.issues import IssueReport
from marketbridge.runtime import Runtime
from marketbridge.services import catalogue
from marketbridge.services.catalogue import discovery, views
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.webhooks import WebhookHandlers
from marketbridge.settings import load_settings
from tests.fakes import NoDatabase
from tests.fakes_catalogue import (
    FakeCatalogueMagento,
    FakeCatalogueMirakl,
    FakeCatalogueRepository,
    FakeCatalogueStore,
    FakeStockRecords,
    rate_limited,
)

REFERENCE = catalogue_domain.reference_from_api(
    [], [{"code": "home", "parent_code": ""}, {"code": "home/lighting", "parent_code": "home"}], [])


class Flow:
    """One runtime whose ports are fakes (``runtime.db`` and the other flows' stores fail if used)."""

    def __init__(self) -> None:
        self.store = FakeCatalogueStore()
        self.magento = FakeCatalogueMagento()
        self.mirakl = FakeCatalogueMirakl()
        self.runtime = Runtime(
            settings=load_settings(database_url="sqlite://", session_secret="x" * 48),
            db=NoDatabase(), bus=MessageBus(), engine=NoDatabase(), webhook_handlers=WebhookHandlers(),
            flow_actions=FlowActions(), shipments_store=NoDatabase(), refunds_store=NoDatabase(),
            catalogue_store=self.store, audit_store=NoDatabase(), orders_store=NoDatabase(),
            people_store=NoDatabase(), alerts_store=NoDatabase(),
            console_store=NoDatabase(), order_feed_store=NoDatabase())
        self.runtime.magento = self.magento  # type: ignore[assignment]
        self.runtime.mirakl = self.mirakl  # type: ignore[assignment]
        # PM11/H11/VL11 already read this hour (market_reference's cache)
        self.runtime.extras["catalogue.reference"] = (time.monotonic(), REFERENCE)

    def map_garden(self) -> None:
        with self.store.unit_of_work() as repo:
            catalogue.set_category_mapping(repo, "Garden", "home/lighting", actor="tester")


@pytest.fixture
def flow() -> Flow:
    return Flow()


# ------------------------------------------------------------------ discovery
def test_the_first_look_only_sets_the_baseline_then_new_products_are_found(flow: Flow) -> None:
    flow.magento.add("OLD-1", created_at="2026-11-01 08:00:00")
    assert catalogue.discover_new_products(flow.runtime) == []
    assert flow.store.cursors == {discovery.CURSOR_NAME: "2026-12-01 09:00:00",
                                  discovery.BASELINE_NAME: "2026-12-01 09:00:00"}
    assert flow.magento.searches == []  # one small search for Magento's clock, not a read of the catalogue

    flow.magento.add("NEW-1", created_at="2026-12-01 10:00:00")
    flow.magento.add("OLD-2", created_at="2026-11-02 08:00:00", updated_at="2026-12-01 10:05:00")
    flow.store.add("FIXED-1", status="invalid")
    flow.magento.add("FIXED-1", created_at="2026-11-03 08:00:00", updated_at="2026-12-01 10:06:00")
    flow.magento.clock = dt.datetime(2026, 12, 1, 11, 0, 0)
    found = catalogue.discover_new_products(flow.runtime)
    assert found == ["NEW-1", "FIXED-1"]  # an old product changed is the audit's business, not a publication
    assert flow.magento.searches == ["2026-12-01 08:59:58"]  # looks a little back (one-second timestamps)
    assert flow.store.cursors[discovery.CURSOR_NAME] == "2026-12-01 11:00:00"
    assert flow.store.cursors[discovery.BASELINE_NAME] == "2026-12-01 09:00:00"  # the baseline never moves


def test_the_discovery_cursor_never_moves_back(flow: Flow) -> None:
    flow.store.cursors.update({discovery.CURSOR_NAME: "2026-12-02 00:00:00", discovery.BASELINE_NAME: "2026-12-01"})
    flow.magento.clock = dt.datetime(2026, 12, 1, 12, 0, 0)  # a clock behind our cursor
    assert catalogue.discover_new_products(flow.runtime) == []
    assert flow.store.cursors[discovery.CURSOR_NAME] == "2026-12-02 00:00:00"


# ------------------------------------------------------------------ prepare
def test_prepare_queues_a_valid_product_with_its_p41_and_of01_rows(flow: Flow) -> None:
    flow.map_garden()
    flow.magento.add("MB-1", price=25.0)
    flow.magento.salable["MB-1"] = 4.0
    flow.store.skus.links["OFFER-MB-1"] = "MB-1"
    result = catalogue.prepare(flow.runtime, ["MB-1", "NOPE"])
    assert result.ready == ["MB-1"] and result.not_found == ["NOPE"]
    listing = flow.store.listings_["MB-1"]
    assert (listing.status, listing.stage, listing.problems) == ("new", "", [])
    assert listing.offer_sku == "OFFER-MB-1"  # the confirmed link's offer SKU
    assert listing.payload["product"]["category"] == "home/lighting"
    assert listing.payload["offer"] == {"sku": "OFFER-MB-1", "product-id": "MB-1", "product-id-type": "SHOP_SKU",
                                        "price": "25.00", "quantity": "4", "state": "11"}
    assert flow.store.issues.active(PRODUCT_INVALID, "MB-1") is None


def test_prepare_records_every_problem_on_the_listing_and_as_an_issue(flow: Flow) -> None:
    flow.magento.add("BAD-1", price=0.0, status=2, category="Unmapped")
    result = catalogue.prepare(flow.runtime, ["BAD-1"])
    problems = result.invalid["BAD-1"]
    assert problems[0].startswith("It is disabled in Adobe Commerce")
    assert any("('Unmapped') is not mapped" in p for p in problems)
    assert any("no price above zero" in p for p in problems)
    assert flow.store.listings_["BAD-1"].status == "invalid" and flow.store.listings_["BAD-1"].problems == problems
    issue = flow.store.issues.active(PRODUCT_INVALID, "BAD-1")
    assert issue is not None and issue.message.startswith("BAD-1 cannot be published: ")

    # fixed in Adobe Commerce: the issue resolves itself
    flow.map_garden()
    flow.magento.add("BAD-1", price=12.5)
    assert catalogue.prepare(flow.runtime, ["BAD-1"]).ready == ["BAD-1"]
    assert flow.store.issues.active(PRODUCT_INVALID, "BAD-1") is None


def test_an_excluded_product_says_why_until_a_publish_rule_lets_it_through(flow: Flow) -> None:
    flow.map_garden()
    flow.magento.add("BUNDLE-1", type_id="bundle")
    result = catalogue.prepare(flow.runtime, ["BUNDLE-1"])
    assert "BUNDLE-1" in result.excluded and flow.store.listings_["BUNDLE-1"].status == "excluded"
    with flow.store.unit_of_work() as repo:
        catalogue.set_override(repo, "BUNDLE-1", "publish_as_simple", actor="ecommerce", note="sell it")
    assert catalogue.prepare(flow.runtime, ["BUNDLE-1"]).ready == ["BUNDLE-1"]


def test_prepare_brings_a_configurables_children_with_the_parent_as_variant_group(flow: Flow) -> None:
    flow.map_garden()
    flow.magento.add("CFG-1", type_id="configurable")
    flow.magento.add("CFG-1-RED")
    flow.magento.children["CFG-1"] = ["CFG-1-RED"]
    result = catalogue.prepare(flow.runtime, ["CFG-1"])
    assert result.ready == ["CFG-1-RED"] and "CFG-1" in result.excluded
    assert flow.store.listings_["CFG-1-RED"].variant_group == "CFG-1"


# ------------------------------------------------------------------ sending
def test_products_are_sent_in_one_p41_import_at_most_once_per_call_frequency(flow: Flow) -> None:
    flow.store.add("A", payload={"product": {"shop_sku": "A", "title": "a"}})
    flow.store.add("B", payload={"product": {"shop_sku": "B", "extra": "x"}})
    flow.store.add("NO-ROW")  # prepared nothing to send
    import_id = catalogue.send_products(flow.runtime)
    assert import_id == "1001"
    assert flow.mirakl.submitted == [("P41", [{"shop_sku": "A", "title": "a"}, {"shop_sku": "B", "extra": "x"}])]
    (record,) = flow.store.imports.values()
    assert (record.api, record.import_id, record.skus, record.purpose) == ("P41", "1001", ["A", "B"], "publish")
    for sku in ("A", "B"):
        listing = flow.store.listings_[sku]
        assert (listing.status, listing.stage, listing.product_import_id) == ("pending", "product_sent", "1001")
    assert flow.store.listings_["NO-ROW"].status == "new"

    flow.store.add("C", payload={"product": {"shop_sku": "C"}})
    assert catalogue.send_products(flow.runtime) is None  # P41 may be called every 15 minutes
    assert len(flow.mirakl.submitted) == 1 and flow.store.listings_["C"].stage == ""


def test_a_429_defers_the_import_and_records_nothing(flow: Flow) -> None:
    flow.store.add("A", payload={"product": {"shop_sku": "A"}})
    flow.mirakl.refuse["P41"] = rate_limited()
    assert catalogue.send_products(flow.runtime) is None
    assert flow.store.imports == {} and flow.store.listings_["A"].stage == ""


def test_offers_of_accepted_products_go_in_one_of01_import(flow: Flow) -> None:
    offer = {"sku": "A", "product-id": "A", "product-id-type": "SHOP_SKU", "price": "1.00", "quantity": "1",
             "state": "11"}
    flow.store.add("A", status="pending", stage="product_ok", payload={"offer": offer})
    flow.store.add("B", status="pending", stage="product_sent")
    assert catalogue.send_offers(flow.runtime) == "1001"
    assert flow.mirakl.submitted == [("OF01", [offer])]
    assert (flow.store.listings_["A"].stage, flow.store.listings_["A"].offer_import_id) == ("offer_sent", "1001")
    assert flow.store.listings_["B"].stage == "product_sent"
    assert catalogue.send_offers(flow.runtime) is None  # nothing else waits


# ------------------------------------------------------------------ following
def test_a_product_import_moves_accepted_products_on_and_rejects_the_others_with_reasons(flow: Flow) -> None:
    flow.store.add("A", status="pending", stage="product_sent")
    flow.store.add("B", status="pending", stage="product_sent")
    record = flow.store.add_sent_import("P41", "77", ["A", "B"])
    assert catalogue.follow_imports(flow.runtime) == 0  # still running: only its remote status is kept
    assert record.status == "submitted" and record.remote_status == "RUNNING"

    flow.mirakl.statuses["77"] = {"import_status": "COMPLETE", "has_error_report": True}
    flow.mirakl.errors["77"] = [ImportLineError(line=2, sku="B", message="The EAN is not valid.")]
    assert catalogue.follow_imports(flow.runtime) == 1
    assert (record.status, record.remote_status, record.finished_at is not None) == ("done", "COMPLETE", True)
    assert flow.store.listings_["A"].stage == "product_ok"
    rejected = flow.store.listings_["B"]
    assert (rejected.status, rejected.stage, rejected.problems) == ("rejected", "", ["The EAN is not valid."])
    issue = flow.store.issues.active(PRODUCT_REJECTED, "B")
    assert issue is not None and "(product import)" in issue.message
    assert catalogue.follow_imports(flow.runtime) == 0  # followed once


def test_a_product_import_at_sent_is_still_in_flight_and_no_offer_goes_out(flow: Flow) -> None:
    """SENT is "sent for integration" (issue 14 item 2): the product does not exist yet, so an OF01
    now would be refused with "The product does not exist". Only COMPLETE moves products on."""
    offer = {"sku": "A", "product-id": "A", "product-id-type": "SHOP_SKU", "price": "1.00", "quantity": "1",
             "state": "11"}
    flow.store.add("A", status="pending", stage="product_sent", payload={"offer": offer})
    record = flow.store.add_sent_import("P41", "77", ["A"])
    flow.mirakl.statuses["77"] = {"import_status": "SENT", "has_transformed_file": True}
    for _ in range(3):  # however long it stays SENT
        assert catalogue.follow_imports(flow.runtime) == 0
        assert catalogue.send_offers(flow.runtime) is None
    assert (record.status, record.remote_status) == ("submitted", "SENT")
    assert flow.store.listings_["A"].stage == "product_sent"
    assert [api for api, _ in flow.mirakl.submitted] == []

    flow.mirakl.statuses["77"] = {"import_status": "COMPLETE", "has_new_product_report": True}
    flow.mirakl.integrated["77"] = ["A"]
    assert catalogue.follow_imports(flow.runtime) == 1
    assert flow.store.listings_["A"].stage == "product_ok"
    assert catalogue.send_offers(flow.runtime) == "1001"


def test_a_product_in_neither_integration_report_is_not_published(flow: Flow) -> None:
    """P45 lists what the operator integrated, P44 what it refused: a product in neither is not on
    the marketplace (Mirakl's Magento connector: NOT_FOUND_IN_REPORT, a failure), so no offer."""
    flow.store.add("A", status="pending", stage="product_sent")
    flow.store.add("B", status="pending", stage="product_sent")
    flow.store.add_sent_import("P41", "77", ["A", "B"])
    flow.mirakl.statuses["77"] = {"import_status": "COMPLETE", "has_new_product_report": True}
    flow.mirakl.integrated["77"] = ["A"]
    assert catalogue.follow_imports(flow.runtime) == 1
    assert flow.store.listings_["A"].stage == "product_ok"
    b = flow.store.listings_["B"]
    assert b.status == "rejected" and "do not mention this product" in b.problems[0]


def test_transformation_errors_refuse_their_products_at_sent_and_warnings_do_not(flow: Flow) -> None:
    """P47 exists from SENT (P42: has_transformation_error_report "filled when the import status is
    SENT or COMPLETE"); its rows carry ``errors`` and ``warnings`` (Mirakl's Magento connector)."""
    flow.store.add("A", status="pending", stage="product_sent")
    flow.store.add("B", status="pending", stage="product_sent")
    record = flow.store.add_sent_import("P41", "77", ["A", "B"])
    flow.mirakl.statuses["77"] = {"import_status": "SENT", "has_transformation_error_report": True}
    flow.mirakl.transformation_rows["77"] = [
        {"shop_sku": "A", "errors": "The 'ean' attribute must be 13 digits.", "warnings": ""},
        {"shop_sku": "B", "errors": "", "warnings": "The colour is not in the list."}]
    assert catalogue.follow_imports(flow.runtime) == 0
    assert catalogue.follow_imports(flow.runtime) == 0
    assert flow.mirakl.p47_reads == ["77"]  # read once, when SENT is first seen
    a, b = flow.store.listings_["A"], flow.store.listings_["B"]
    assert (a.status, a.problems) == ("rejected", ["The 'ean' attribute must be 13 digits."])
    assert (b.status, b.stage) == ("pending", "product_sent")
    assert record.status == "submitted"

    flow.mirakl.statuses["77"] = {"import_status": "COMPLETE", "has_transformation_error_report": True}
    assert catalogue.follow_imports(flow.runtime) == 1
    assert (a.status, a.stage) == ("rejected", "") and b.stage == "product_ok"


def test_a_failed_import_rejects_every_product_in_it(flow: Flow) -> None:
    flow.store.add("A", status="pending", stage="offer_sent")
    record = flow.store.add_sent_import("OF01", "78", ["A"])
    flow.mirakl.statuses["78"] = {"status": "FAILED", "reason_status": "bad file"}
    assert catalogue.follow_imports(flow.runtime) == 1
    assert (record.status, record.detail) == ("failed", "bad file")
    assert flow.store.listings_["A"].problems == ["The whole import failed: bad file."]
    assert flow.store.issues.active(PRODUCT_REJECTED, "A") is not None


def test_an_accepted_offer_becomes_live_and_clears_the_rejection(flow: Flow) -> None:
    flow.store.add("A", status="pending", stage="offer_sent", offer_sku="OFFER-A")
    flow.store.issues.record(IssueReport(type=PRODUCT_REJECTED, object_id="A", message="earlier"))
    flow.store.add_sent_import("OF01", "79", ["A"])
    flow.mirakl.statuses["79"] = {"status": "COMPLETE"}
    flow.mirakl.add_offer("OFFER-A", active=True)
    assert catalogue.follow_imports(flow.runtime) == 1
    listing = flow.store.listings_["A"]
    assert (listing.status, listing.stage, listing.problems) == ("live", "", [])
    assert flow.store.issues.active(PRODUCT_REJECTED, "A") is None


def test_refresh_live_reports_inactive_offers_and_offers_not_visible_yet(flow: Flow) -> None:
    flow.store.add("A", status="live")
    flow.store.add("B", status="live")
    flow.mirakl.add_offer("A", active=False, reasons=["ZERO_QUANTITY"])
    assert catalogue.refresh_live(flow.runtime, ["A", "B", "UNKNOWN"]) == {"A": "inactive", "B": "pending"}
    assert flow.store.listings_["A"].problems == ["Inactive on the marketplace: ZERO_QUANTITY"]
    assert (flow.store.listings_["B"].stage, flow.store.listings_["B"].problems) == (
        "offer_ok", ["The offer is not visible on the marketplace yet."])


def test_publish_passes_until_every_sku_is_final_and_reports_unknown_skus(flow: Flow) -> None:
    flow.magento.add("BUNDLE-1", type_id="bundle")
    states = catalogue.publish(flow.runtime, ["BUNDLE-1", "NOPE"], wait=True, timeout=5, poll_seconds=0)
    assert states["BUNDLE-1"].status == "excluded"
    assert states["NOPE"].status == "not_found" and states["NOPE"].problems == ["No such SKU in Adobe Commerce."]


# ------------------------------------------------------------------ mappings and publish rules
def test_mapping_edits_are_audited_and_override_the_defaults(flow: Flow) -> None:
    with flow.store.unit_of_work() as repo:
        row = catalogue.set_attribute_mapping(repo, " brand ", " manufacturer ", None, actor="ada")
        assert (row.attribute, row.source, row.value_map) == ("brand", "manufacturer", {})
        catalogue.set_attribute_mapping(repo, "ean", "", None, actor="ada")  # unmapped
        catalogue.set_value_mapping(repo, "color", "50", "RED", actor="ada")
        with pytest.raises(ValueError, match="map it first"):
            catalogue.set_value_mapping(repo, "no_such", "1", "X", actor="ada")
        with pytest.raises(ValueError, match="required"):
            catalogue.set_attribute_mapping(repo, " ", "x", None, actor="ada")
        mappings = {m.attribute: m for m in catalogue.attribute_mappings(repo)}
    assert mappings["brand"].source == "manufacturer" and "ean" not in mappings
    assert mappings["color"].value_map == {"50": "RED"} and mappings["color"].source == "color"
    assert [a["action"] for a in flow.store.issues.activity] == [
        "catalogue.attribute_mapping", "catalogue.attribute_mapping", "catalogue.value_mapping"]
    assert flow.store.flushes == 3


def test_category_mappings_are_set_and_deleted(flow: Flow) -> None:
    with flow.store.unit_of_work() as repo:
        with pytest.raises(ValueError, match="both"):
            catalogue.set_category_mapping(repo, "Garden", " ", actor="ada")
        catalogue.set_category_mapping(repo, " Garden ", " home/lighting ", actor="ada")
        catalogue.set_category_mapping(repo, "Garden", "home", actor="bob")
        assert catalogue.category_mappings(repo) == {"Garden": "home"}
        assert catalogue.delete_mapping(repo, "category", "Garden", actor="bob") is True
        assert catalogue.delete_mapping(repo, "category", "Garden", actor="bob") is False
        assert catalogue.delete_mapping(repo, "attribute", "brand", actor="bob") is False
    assert flow.store.category_rows == {}
    assert [a["action"] for a in flow.store.issues.activity] == [
        "catalogue.category_mapping", "catalogue.category_mapping", "catalogue.category_mapping_deleted"]


def test_a_publish_rule_is_audited_and_hints_the_stock_flow(flow: Flow) -> None:
    with flow.store.unit_of_work() as repo:
        catalogue.set_override(repo, "MB-9", "publish_as_simple", actor="ada", note="engraving optional")
        with pytest.raises(ValueError):
            catalogue.set_override(repo, "MB-9", "publish_anyway", actor="ada")
        view = catalogue.mappings_view(repo)
    assert [(o.magento_sku, o.action, o.note) for o in view.overrides] == [
        ("MB-9", "publish_as_simple", "engraving optional")]
    assert flow.store.stock.hints == [{"skus": ["MB-9"], "stock": True, "price": True, "force": True,
                                       "reason": "catalogue rule changed"}]
    with flow.store.unit_of_work() as repo:
        catalogue.set_override(repo, "MB-9", None, actor="ada")
    assert flow.store.overrides == {} and len(flow.store.stock.hints) == 2
    assert [a["detail"] for a in flow.store.issues.activity] == [{"rule": "publish_as_simple"}, {"rule": None}]


# ------------------------------------------------------------------ read views
def test_the_read_views(flow: Flow) -> None:
    flow.store.add("MB_1", status="live", updated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    flow.store.add("MBX2", status="live", updated_at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    flow.store.add("ODD", status="paused")
    flow.store.add_sent_import("P41", "1", ["MB_1"])
    assert list(catalogue.statuses(flow.runtime, ["MB_1", "ODD", "NOPE"])) == ["MB_1", "ODD"]
    assert list(catalogue.statuses(flow.runtime, status="live")) == ["MBX2", "MB_1"]
    with flow.store.unit_of_work() as repo:
        counts = views.listing_counts(repo)
        found = views.search_listings(repo, q="MB")
        imports = views.import_counts_since(repo, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert counts[0] == ("live", 2) and counts[-1] == ("paused", 1) and ("new", 0) in counts
    assert [v.magento_sku for v in found] == ["MBX2", "MB_1"]  # most recently updated first
    assert imports == [("P41", "submitted", 1)]


# ------------------------------------------------------------------ the fakes and the adapter
def test_the_adapter_filters_on_the_domains_publish_as_simple_action() -> None:
    assert catalogue_adapter.PUBLISH_AS_SIMPLE == OverrideAction.PUBLISH_AS_SIMPLE.value


@pytest.mark.parametrize(("port", "fake"), [
    (ports.CatalogueStore, FakeCatalogueStore), (ports.CatalogueRepository, FakeCatalogueRepository),
    (ports.StockRecords, FakeStockRecords)])
def test_each_catalogue_storage_fake_has_every_member_of_its_port(port: type, fake: type) -> None:
    """mypy proves the SQLAlchemy store fits the ports; this keeps the fakes whole as the ports grow."""
    members = {name for name in vars(port) if not name.startswith("_")}
    assert members and {name for name in members if not hasattr(fake, name)} == set()
