"""JSON API of the catalogue area: listings, publishing, mappings, SKU links and audit runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from marketbridge.adapters.errors import IntegrationError
from marketbridge.bus import AuditRequested
from marketbridge.domain.auth import Action
from marketbridge.services import audit as audit_service
from marketbridge.services import catalogue as catalogue_service
from marketbridge.services import skus as sku_service
from marketbridge.services.audit import AuditRunDetail, AuditRunView, AuditStarted, AuditSummary
from marketbridge.services.catalogue import (
    AttributeMappingView,
    CategoryMappingView,
    ListingView,
    MappingsView,
    PublishRuleView,
    UnknownSku,
)
from marketbridge.web.deps import ConsoleUser, RuntimeDep, SessionDep
from marketbridge.web.params import DbId
from marketbridge.web.policy import Reader, requires

router = APIRouter(tags=["catalogue"])
Editor = Annotated[ConsoleUser, Depends(requires(Action.EDIT_CATALOGUE))]
Publisher = Annotated[ConsoleUser, Depends(requires(Action.PUBLISH_CATALOGUE))]
Auditor = Annotated[ConsoleUser, Depends(requires(Action.RUN_AUDIT))]

Sku = Annotated[str, Field(min_length=1, max_length=255)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PublishRequest(Strict):
    skus: list[Sku] = Field(min_length=1, max_length=500)


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"


# Annotated as FastAPI's `responses=` parameter is (its keys are `int | str`); the inferred
# dict[int, dict[str, str]] is not accepted there because dict is invariant.
REMOTE_FAILED: dict[int | str, dict[str, Any]] = {
    502: {"description": "Adobe Commerce or the marketplace failed; nothing was lost, try again."},
}


class AttributeMappingIn(Strict):
    source: Annotated[str, Field(max_length=255)]
    value_map: dict[Annotated[str, Field(max_length=255)], Annotated[str, Field(max_length=255)]] | None = None


class CategoryMappingIn(Strict):
    marketplace_category: Annotated[str, Field(min_length=1, max_length=255)]


class PublishRuleIn(Strict):
    action: Annotated[str, Field(pattern=r"^publish_as_simple$")] | None
    note: Annotated[str, Field(max_length=1000)] = ""


class LinkIn(Strict):
    offer_sku: Sku
    magento_sku: Sku
    note: Annotated[str, Field(max_length=1000)] = ""


class AuditRequest(Strict):
    fix: bool = False


# ----------------------------------------------------------------------------- listings / publish
@router.get("/api/catalogue/listings")
def listings(runtime: RuntimeDep, user: Reader,
             status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
             limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list[ListingView]:
    return list(catalogue_service.statuses(runtime, None, status=status_, limit=limit).values())


@router.get("/api/catalogue/listings/{sku:path}")
def listing(sku: str, runtime: RuntimeDep, user: Reader) -> ListingView:
    found = catalogue_service.statuses(runtime, [sku])
    if sku not in found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This SKU has never been published.")
    return found[sku]


@router.post("/api/catalogue/publish", responses=REMOTE_FAILED)
def publish(body: PublishRequest, runtime: RuntimeDep, user: Publisher) -> dict[str, ListingView | UnknownSku]:
    """Validate and queue ``skus`` and run one publishing pass now; the schedule follows the imports
    to a final status (read it with ``GET /api/catalogue/listings/{sku}``)."""
    try:
        return catalogue_service.publish(runtime, body.skus, wait=False)
    except IntegrationError as error:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"A remote system failed: {error}") from None


# ----------------------------------------------------------------------------- mappings
# Each edit is one unit of work of the flow's store: the change, its activity-log entry (and for a
# publish rule the stock flow's hint) commit together, or not at all.
@router.get("/api/catalogue/mappings")
def mappings(runtime: RuntimeDep, user: Reader) -> MappingsView:
    with runtime.catalogue_store.unit_of_work() as repo:
        return catalogue_service.mappings_view(repo)


@router.put("/api/catalogue/mappings/attributes/{attribute}")
def put_attribute(attribute: str, body: AttributeMappingIn, runtime: RuntimeDep, user: Editor) -> AttributeMappingView:
    try:
        with runtime.catalogue_store.unit_of_work() as repo:
            row = catalogue_service.set_attribute_mapping(repo, attribute, body.source, body.value_map,
                                                          actor=user.name)
            return AttributeMappingView(attribute=row.attribute, source=row.source, value_map=row.value_map)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None


@router.delete("/api/catalogue/mappings/attributes/{attribute}", status_code=204)
def delete_attribute(attribute: str, runtime: RuntimeDep, user: Editor) -> None:
    with runtime.catalogue_store.unit_of_work() as repo:
        deleted = catalogue_service.delete_mapping(repo, "attribute", attribute, actor=user.name)
    if not deleted:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No edited mapping for this attribute.")


@router.put("/api/catalogue/mappings/categories/{magento_category:path}")
def put_category(magento_category: str, body: CategoryMappingIn, runtime: RuntimeDep,
                 user: Editor) -> CategoryMappingView:
    try:
        with runtime.catalogue_store.unit_of_work() as repo:
            row = catalogue_service.set_category_mapping(repo, magento_category, body.marketplace_category,
                                                         actor=user.name)
            return CategoryMappingView(magento_category=row.magento_category,
                                       marketplace_category=row.marketplace_category)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None


@router.delete("/api/catalogue/mappings/categories/{magento_category:path}", status_code=204)
def delete_category(magento_category: str, runtime: RuntimeDep, user: Editor) -> None:
    with runtime.catalogue_store.unit_of_work() as repo:
        deleted = catalogue_service.delete_mapping(repo, "category", magento_category, actor=user.name)
    if not deleted:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No mapping for this category.")


@router.put("/api/catalogue/rules/{sku:path}")
def put_rule(sku: str, body: PublishRuleIn, runtime: RuntimeDep, user: Editor) -> PublishRuleView:
    with runtime.catalogue_store.unit_of_work() as repo:
        catalogue_service.set_override(repo, sku, body.action, actor=user.name, note=body.note)
    return PublishRuleView(magento_sku=sku, action=body.action)


# ----------------------------------------------------------------------------- SKU links
@router.get("/api/skus/links")
def sku_links(session: SessionDep, user: Reader) -> list[sku_service.SkuLinkView]:
    return sku_service.list_links(session)


@router.get("/api/skus/near-misses")
def sku_near_misses(session: SessionDep, user: Reader) -> list[sku_service.NearMissView]:
    return sku_service.open_near_misses(session)


@router.post("/api/skus/links", status_code=201)
def create_link(body: LinkIn, session: SessionDep, user: Editor) -> sku_service.SkuLinkView:
    try:
        row = sku_service.link(session, body.offer_sku, body.magento_sku, confirmed_by=user.name, note=body.note)
    except sku_service.SkuLinkError as error:
        raise HTTPException(422, str(error)) from None
    return sku_service.link_view(row)


@router.delete("/api/skus/links/{offer_sku:path}", status_code=204)
def delete_link(offer_sku: str, session: SessionDep, user: Editor) -> None:
    try:
        sku_service.unlink(session, offer_sku, by=user.name)
    except sku_service.SkuLinkError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None


# ----------------------------------------------------------------------------- audit
@router.get("/api/audit/runs")
def audit_runs(runtime: RuntimeDep, user: Reader,
               limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[AuditRunView]:
    with runtime.audit_store.unit_of_work() as repo:
        return audit_service.list_runs(repo, limit)


@router.get("/api/audit/runs/{run_id}.csv", response_class=CsvResponse)
def audit_run_csv(run_id: DbId, runtime: RuntimeDep, user: Reader) -> CsvResponse:
    with runtime.audit_store.unit_of_work() as repo:
        text = audit_service.run_csv(repo, run_id)
    if text is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such audit run.")
    return CsvResponse(text, headers={"Content-Disposition": f'attachment; filename="audit-{run_id}.csv"'})


@router.get("/api/audit/runs/{run_id}")
def audit_run(run_id: DbId, runtime: RuntimeDep, user: Reader,
              kind: Annotated[str | None, Query(max_length=32)] = None,
              limit: Annotated[int, Query(ge=1, le=100000)] = 10000) -> AuditRunDetail:
    with runtime.audit_store.unit_of_work() as repo:
        found = audit_service.get_run(repo, run_id, kind=kind, limit=limit)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such audit run.")
    return found


@router.post("/api/audit/runs", status_code=202, responses=REMOTE_FAILED)
def start_audit(body: AuditRequest, runtime: RuntimeDep, user: Auditor) -> AuditStarted | AuditSummary:
    """Start an audit in the background (a durable workflow when the engine runs, else inline)."""
    workflow_id = runtime.bus.handle(AuditRequested(body.fix, "api"))
    if workflow_id is not None:
        return AuditStarted(workflow_id=workflow_id)
    try:
        return audit_service.run_audit(runtime, fix=body.fix, trigger="api").summary()
    except IntegrationError as error:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"A remote system failed: {error}") from None
