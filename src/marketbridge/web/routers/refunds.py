"""JSON API of the refunds area.

``GET /api/refunds`` credit memos and what became of them (filter ``status``, ``order_id``);
``GET /api/refunds/marketplace`` every refund known on marketplace lines (``origin`` =
``creditmemo`` or ``marketplace`` / ``cancelation``); ``GET /api/refunds/reasons`` the reason
mapping checked against RE01; ``GET /api/refunds/{key}`` one memo (entity or increment id) or one
marketplace refund id; ``POST /api/refunds/{key}/retry`` plans a held memo again;
``POST /api/refunds/marketplace/{refund_id}/mirror`` creates the matching Adobe Commerce credit memo.

Every route declares its response model (the service's typed results), so ``/openapi.json``
describes the real shapes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel

from marketbridge.adapters.errors import IntegrationError
from marketbridge.bus import RefundRetryRequested
from marketbridge.domain.auth import Action
from marketbridge.services import refunds as refund_service
from marketbridge.services.refunds.results import (
    MarketplaceRefundDetail,
    MarketplaceRefundView,
    MirrorResult,
    ReasonTable,
    RefundDetail,
    RefundView,
)
from marketbridge.web.deps import ConsoleUser, RuntimeDep
from marketbridge.web.policy import Reader, requires

router = APIRouter(tags=["refunds"])
RefundActor = Annotated[ConsoleUser, Depends(requires(Action.ACT_ON_REFUNDS))]

Key = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Status = Literal["new", "planned", "sending", "sent", "refunded", "held", "ignored"]


class RetryResponse(BaseModel):
    """A held memo set to be planned again: its new workflow id, and whether the running service
    started that workflow now (False: the refunds poll starts it)."""

    creditmemo_id: int
    workflow_id: str
    enqueued: bool


@router.get("/api/refunds", response_model=list[RefundView])
def list_refunds(runtime: RuntimeDep, user: Reader, status_: Annotated[Status | None, Query(alias="status")] = None,
                 order_id: Annotated[str | None, Query(max_length=64)] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[RefundView]:
    with runtime.refunds_store.unit_of_work() as repo:
        return refund_service.list_refunds(repo, status=status_, order_id=order_id, limit=limit)


@router.get("/api/refunds/marketplace", response_model=list[MarketplaceRefundView])
def list_marketplace_refunds(runtime: RuntimeDep, user: Reader,
                             origin: Annotated[Literal["creditmemo", "marketplace", "cancelation"] | None, Query()] = None,
                             order_id: Annotated[str | None, Query(max_length=64)] = None,
                             limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[MarketplaceRefundView]:
    with runtime.refunds_store.unit_of_work() as repo:
        return refund_service.list_marketplace_refunds(repo, origin=origin, order_id=order_id, limit=limit)


@router.get("/api/refunds/reasons", response_model=ReasonTable)
def reasons(runtime: RuntimeDep, user: Reader) -> ReasonTable:
    return refund_service.reason_table(runtime)


@router.get("/api/refunds/{key}", response_model=RefundDetail | MarketplaceRefundDetail)
def show_refund(key: Key, runtime: RuntimeDep, user: Reader) -> RefundDetail | MarketplaceRefundDetail:
    with runtime.refunds_store.unit_of_work() as repo:
        found = refund_service.show(repo, key)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such credit memo or refund.")
    return found


@router.post("/api/refunds/{key}/retry", response_model=RetryResponse)
def retry_refund(key: Key, runtime: RuntimeDep, user: RefundActor) -> RetryResponse:
    try:
        result = refund_service.request_retry(runtime, key, actor=user.name)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such credit memo.") from None
    except refund_service.RefundActionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    enqueued = runtime.bus.handle(RefundRetryRequested(result.creditmemo_id, result.workflow_id))
    return RetryResponse(creditmemo_id=result.creditmemo_id, workflow_id=result.workflow_id, enqueued=bool(enqueued))


@router.post("/api/refunds/marketplace/{refund_id}/mirror", response_model=MirrorResult)
def mirror_refund(refund_id: Key, runtime: RuntimeDep, user: RefundActor) -> MirrorResult:
    try:
        return refund_service.mirror_marketplace_refund(runtime, refund_id, actor=user.name)
    except refund_service.RefundActionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except IntegrationError as error:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Adobe Commerce failed: {error}") from None
