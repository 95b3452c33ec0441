"""The typed results of the catalogue and audit flows keep the JSON shapes they always had: the DBOS
steps record ``as_dict()`` / ``model_dump(mode="json")`` with the engine's portable JSON serializer,
and the API and the CLI send the same keys, in the same order."""

from __future__ import annotations

import pydantic
import pytest
from dbos import DBOSPortableJSONSerializer

from marketbridge.services.audit import AuditDriftView, AuditOutcome, AuditRunDetail, AuditStarted
from marketbridge.services.catalogue import ListingView, MappingsView, PassResult, ScheduledPass, UnknownSku


def portable(data: object) -> object:
    serializer = DBOSPortableJSONSerializer()
    return serializer.deserialize(serializer.serialize(data))


def test_the_scheduled_pass_records_the_dict_it_always_returned():
    result = ScheduledPass(discovered=2, ready=1, invalid=1, excluded=0,
                           publishing=PassResult(followed=3, products_import="17", offers_import=None))
    shape = {"discovered": 2, "ready": 1, "invalid": 1, "excluded": 0, "followed": 3, "products_import": "17",
             "offers_import": None}
    assert result.as_dict() == shape and list(result.as_dict()) == list(shape)
    assert portable(result.as_dict()) == shape
    assert (result.followed, result.products_import, result.offers_import) == (3, "17", None)
    with pytest.raises(AttributeError):
        result.discovered = 5  # type: ignore[misc]


def test_the_audit_summary_records_the_dict_it_always_returned():
    outcome = AuditOutcome(run_id=7, counts={"quantity_mismatch": 2}, drifts=[], offer_source="OF52",
                           magento_count=10, offer_count=9, elapsed_seconds=1.23456,
                           fixed={"offers_repushed": 1, "products_republished": 0, "exceptions": 0})
    shape = {"run_id": 7, "offer_source": "OF52", "magento_count": 10, "offer_count": 9,
             "counts": {"quantity_mismatch": 2}, "drift_count": 0, "elapsed_seconds": 1.235,
             "fixed": {"offers_repushed": 1, "products_republished": 0, "exceptions": 0}}
    recorded = outcome.summary().model_dump(mode="json")
    assert recorded == shape and list(recorded) == list(shape)
    assert portable(recorded) == shape
    assert AuditStarted(workflow_id="w-1").model_dump() == {"workflow_id": "w-1", "status": "started"}


def test_listing_views_keep_their_keys_and_an_unknown_sku_only_its_three():
    listing = ListingView(magento_sku="A", offer_sku="A", type_id="simple", variant_group=None, status="live",
                          stage="", problems=[], product_import_id="1", offer_import_id="2",
                          updated_at="2026-01-01T00:00:00")
    assert list(listing.model_dump(mode="json")) == [
        "magento_sku", "offer_sku", "type_id", "variant_group", "status", "stage", "problems", "product_import_id",
        "offer_import_id", "updated_at"]
    missing = UnknownSku(magento_sku="X", problems=["No such SKU in Adobe Commerce."])
    assert missing.model_dump(mode="json") == {"magento_sku": "X", "status": "not_found",
                                               "problems": ["No such SKU in Adobe Commerce."]}
    with pytest.raises(pydantic.ValidationError):
        listing.status = "new"
    assert list(MappingsView(attributes=[], categories=[], overrides=[]).model_dump()) == [
        "attributes", "categories", "overrides"]


def test_an_audit_run_detail_is_the_run_then_its_drifts():
    drift = AuditDriftView(kind="price_mismatch", label="Price differs", magento_sku="A", offer_sku="A",
                           expected="1.00", actual="2.00", detail="", fix_action="", fix_result="")
    run = AuditRunDetail(id=1, trigger="api", status="complete", offer_source="OF21", fix=False, magento_count=1,
                         offer_count=1, drift_count=1, counts={"price_mismatch": 1}, fixed={}, error="",
                         started_at="2026-01-01T00:00:00", finished_at=None, elapsed_seconds=0.5, drifts=[drift])
    assert list(run.model_dump(mode="json")) == [
        "id", "trigger", "status", "offer_source", "fix", "magento_count", "offer_count", "drift_count", "counts",
        "fixed", "error", "started_at", "finished_at", "elapsed_seconds", "drifts"]
    assert list(run.drifts[0].model_dump()) == ["kind", "label", "magento_sku", "offer_sku", "expected", "actual",
                                                "detail", "fix_action", "fix_result"]
