"""JSON API of the stock and price flow (bearer token, ``ApiUser``).

* ``GET /api/stock/{sku}``: per-SKU state (Magento qty, published qty, rule, last push, import id,
  result, latency), the same view as ``marketbridge stock show SKU``;
* ``GET /api/stock``: list (``?result=error``), ``GET /api/stock/summary``, ``GET /api/stock/batches``
  (history of imports), ``GET /api/stock/history/{sku}`` (values pushed for one SKU);
* ``GET /api/rules``, ``POST /api/rules`` (add or replace), ``DELETE /api/rules/{id}``; a rule change
  recomputes every SKU from stored values and queues what changed.

Every route declares its response model (the typed views of
:mod:`marketbridge.services.stock.views`), so /openapi.json names and describes what it returns.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from marketbridge.domain.auth import Action
from marketbridge.domain.stock import Kind, RuleError, Scope
from marketbridge.services.stock import poll as stock_poll
from marketbridge.services.stock import state as stock_state
from marketbridge.services.stock.rules import list_rules, put_rule, remove_rule
from marketbridge.services.stock.views import (
    BatchView,
    PushedValue,
    RequeuedCounts,
    RuleRemoved,
    RuleSaved,
    RuleView,
    SkuStateRow,
    SkuStockView,
    StockSummary,
)
from marketbridge.web.deps import ConsoleUser, RuntimeDep, SessionDep
from marketbridge.web.params import DbId, Offset
from marketbridge.web.policy import Reader, requires

router = APIRouter(tags=["stock"])
RuleEditor = Annotated[ConsoleUser, Depends(requires(Action.EDIT_STOCK_RULES))]


@router.get("/api/stock/summary", response_model=StockSummary)
def stock_summary(session: SessionDep, user: Reader) -> StockSummary:
    return stock_state.summary(session)


@router.get("/api/stock/batches", response_model=list[BatchView])
def stock_batches(session: SessionDep, user: Reader,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[BatchView]:
    return stock_state.list_batches(session, limit=limit)


@router.get("/api/stock", response_model=list[SkuStateRow])
def stock_list(session: SessionDep, user: Reader,
               result: Annotated[Literal["ok", "error", "pending"] | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               offset: Offset = 0) -> list[SkuStateRow]:
    return stock_state.list_states(session, result=result, limit=limit, offset=offset)


@router.get("/api/stock/history/{sku:path}", response_model=list[PushedValue])
def stock_history(sku: str, session: SessionDep, user: Reader,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[PushedValue]:
    return stock_state.sku_history(session, sku, limit=limit)


@router.get("/api/stock/{sku:path}", response_model=SkuStockView)
def stock_show(sku: str, session: SessionDep, user: Reader) -> SkuStockView:
    view = stock_state.sku_view(session, sku)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No stock state for SKU {sku!r} yet.")
    return view


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    scope: Scope
    scope_key: str = Field(default="", max_length=255)
    params: dict[str, float | int | str] = Field(min_length=1)
    note: str = Field(default="", max_length=1000)


@router.get("/api/rules", response_model=list[RuleView])
def rules_list(session: SessionDep, user: Reader, kind: Kind | None = None) -> list[RuleView]:
    return list_rules(session, kind)


@router.post("/api/rules", status_code=status.HTTP_201_CREATED, response_model=RuleSaved)
def rules_put(body: RuleIn, runtime: RuntimeDep, user: RuleEditor) -> RuleSaved:
    try:
        with runtime.db.session() as session:
            rule = put_rule(session, body.kind, body.scope, body.scope_key, body.params, actor=user.name, note=body.note)
    except RuleError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    applied = stock_poll.reapply_rules(runtime)
    return RuleSaved(**rule.model_dump(), requeued=RequeuedCounts(stock=applied.stock_enqueued, price=applied.price_enqueued))


@router.delete("/api/rules/{rule_id}", response_model=RuleRemoved)
def rules_delete(rule_id: DbId, runtime: RuntimeDep, user: RuleEditor) -> RuleRemoved:
    try:
        with runtime.db.session() as session:
            remove_rule(session, rule_id, actor=user.name)
    except RuleError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    applied = stock_poll.reapply_rules(runtime)
    return RuleRemoved(deleted=rule_id,
                       requeued=RequeuedCounts(stock=applied.stock_enqueued, price=applied.price_enqueued))
