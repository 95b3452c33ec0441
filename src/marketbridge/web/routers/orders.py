"""JSON API of the orders area: the order records, and a person's accept/refuse of a held order.

``GET /api/orders`` (filter by ``state``), ``GET /api/orders/{order_id}`` (lines, decision and
timestamped transitions), ``POST /api/orders/{order_id}/accept|refuse`` (held orders only; OR21 is
sent and the decision recorded with the user's name), ``POST /api/orders/{order_id}/retry``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from marketbridge.adapters.db.models.core import User
from marketbridge.adapters.errors import IntegrationError
from marketbridge.bus import OrderRetryRequested
from marketbridge.domain.auth import Action
from marketbridge.domain.orders import OrderState
from marketbridge.services import orders as order_service
from marketbridge.web.deps import RuntimeDep, SessionDep
from marketbridge.web.params import Offset
from marketbridge.web.policy import Reader, requires

router = APIRouter(tags=["orders"])
Decider = Annotated[User, Depends(requires(Action.DECIDE_ORDERS))]
Retrier = Annotated[User, Depends(requires(Action.RETRY_ORDERS))]

OrderId = Annotated[str, Query(min_length=1, max_length=64)]


@router.get("/api/orders")
def list_orders(session: SessionDep, runtime: RuntimeDep, user: Reader,
                state: Annotated[OrderState | None, Query()] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Offset = 0) -> list[dict[str, Any]]:
    rows = order_service.list_orders(session, runtime.settings, state=state.value if state else None,
                                     limit=limit, offset=offset)
    return [order_service.to_dict(row) for row in rows]


@router.get("/api/orders/{order_id}")
def show_order(order_id: str, session: SessionDep, runtime: RuntimeDep, user: Reader) -> dict[str, Any]:
    order = order_service.get_order_record(session, order_id, runtime.settings.order_connection)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such marketplace order.")
    return order_service.to_dict(order, detail=True)


def _decide(runtime: Any, order_id: str, accept: bool, actor: str) -> dict[str, Any]:
    try:
        return order_service.decide_by_person(runtime, order_id, accept, actor=actor)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such marketplace order.") from None
    except order_service.DecisionNotAllowed as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except IntegrationError as error:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"The marketplace failed: {error}") from None


@router.post("/api/orders/{order_id}/accept")
def accept_order(order_id: str, runtime: RuntimeDep, user: Decider) -> dict[str, Any]:
    return _decide(runtime, order_id, True, user.name)


@router.post("/api/orders/{order_id}/refuse")
def refuse_order(order_id: str, runtime: RuntimeDep, user: Decider) -> dict[str, Any]:
    return _decide(runtime, order_id, False, user.name)


@router.post("/api/orders/{order_id}/retry")
def retry_order(order_id: str, runtime: RuntimeDep, user: Retrier) -> dict[str, Any]:
    """Try the Adobe Commerce creation again (after the cause was fixed), as a new workflow."""
    try:
        workflow_id = order_service.request_retry(runtime, order_id, actor=user.name)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such marketplace order.") from None
    except order_service.DecisionNotAllowed as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    enqueued = runtime.bus.handle(OrderRetryRequested(order_id, workflow_id))
    return {"order_id": order_id, "workflow_id": workflow_id, "enqueued": enqueued}
