"""JSON API of the orders area: the order records, and a person's accept/refuse of a held order.

``GET /api/orders`` (filter by ``state``), ``GET /api/orders/{order_id}`` (lines, decision and
timestamped transitions), ``POST /api/orders/{order_id}/accept|refuse`` (held orders only; OR21 is
sent and the decision recorded with the user's name), ``POST /api/orders/{order_id}/retry``.

Every route declares its response model (the orders flow's views, or the small models below), so
/openapi.json describes the shapes the routes return.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from marketbridge.adapters.errors import IntegrationError
from marketbridge.bus import OrderRetryRequested
from marketbridge.domain.auth import Action
from marketbridge.domain.orders import OrderState
from marketbridge.runtime import Runtime
from marketbridge.services import orders as order_service
from marketbridge.web.deps import ConsoleUser, RuntimeDep
from marketbridge.web.params import Offset
from marketbridge.web.policy import Reader, requires

router = APIRouter(tags=["orders"])
Decider = Annotated[ConsoleUser, Depends(requires(Action.DECIDE_ORDERS))]
Retrier = Annotated[ConsoleUser, Depends(requires(Action.RETRY_ORDERS))]

OrderId = Annotated[str, Query(min_length=1, max_length=64)]


class OrderDecision(BaseModel):
    """A person's accept or refuse: the order's state after it, the outcome sent (``accept`` or
    ``refuse``), and the marketplace's error when it refused OR21 (absent otherwise)."""

    order_id: str
    state: str
    outcome: str
    rejected: str | None = None


class OrderRetry(BaseModel):
    """A creation retry: its workflow id, and whether it was enqueued now (else the next poll starts it)."""

    order_id: str
    workflow_id: str
    enqueued: bool


@router.get("/api/orders", response_model=list[order_service.OrderSummary])
def list_orders(runtime: RuntimeDep, user: Reader,
                state: Annotated[OrderState | None, Query()] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Offset = 0) -> list[order_service.OrderSummary]:
    with runtime.orders_store.unit_of_work() as orders:
        rows = order_service.list_orders(orders, runtime.settings, state=state.value if state else None,
                                         limit=limit, offset=offset)
        return [order_service.order_summary(row) for row in rows]


@router.get("/api/orders/{order_id}", response_model=order_service.OrderDetail)
def show_order(order_id: str, runtime: RuntimeDep, user: Reader) -> order_service.OrderDetail:
    with runtime.orders_store.unit_of_work() as orders:
        detail = order_service.find_order_detail(orders, runtime.settings, order_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such marketplace order.")
    return detail


def _decide(runtime: Runtime, order_id: str, accept: bool, actor: str) -> OrderDecision:
    try:
        result = order_service.decide_by_person(runtime, order_id, accept, actor=actor)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such marketplace order.") from None
    except order_service.DecisionNotAllowed as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except IntegrationError as error:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"The marketplace failed: {error}") from None
    return OrderDecision.model_validate(result.as_dict())


@router.post("/api/orders/{order_id}/accept", response_model=OrderDecision, response_model_exclude_none=True)
def accept_order(order_id: str, runtime: RuntimeDep, user: Decider) -> OrderDecision:
    return _decide(runtime, order_id, True, user.name)


@router.post("/api/orders/{order_id}/refuse", response_model=OrderDecision, response_model_exclude_none=True)
def refuse_order(order_id: str, runtime: RuntimeDep, user: Decider) -> OrderDecision:
    return _decide(runtime, order_id, False, user.name)


@router.post("/api/orders/{order_id}/retry", response_model=OrderRetry)
def retry_order(order_id: str, runtime: RuntimeDep, user: Retrier) -> OrderRetry:
    """Try the Adobe Commerce creation again (after the cause was fixed), as a new workflow."""
    try:
        workflow_id = order_service.request_retry(runtime, order_id, actor=user.name)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such marketplace order.") from None
    except order_service.DecisionNotAllowed as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    enqueued = runtime.bus.handle(OrderRetryRequested(order_id, workflow_id))
    return OrderRetry(order_id=order_id, workflow_id=workflow_id, enqueued=enqueued)
