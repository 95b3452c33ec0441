"""The "Marketplace budgets" page (``/budgets``) and its JSON twin (``GET /api/mirakl/budgets``).

For each Mirakl API: the limit (from its pace), the calls of the last minute and hour, in all and
per flow, the next free slot, and a plain-English line for each flow that is deferring ("order
feed: waiting for OR11, next slot in 42 s"). Both read ``services.budgets.report``; both need the
``read`` action like every other console page and JSON read. The page refreshes itself every
15 seconds through htmx (the table only).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from marketbridge.call_flow import FLOWS
from marketbridge.domain.budgets import in_words, pace_words
from marketbridge.services import budgets as budget_service
from marketbridge.web.console_templates import render
from marketbridge.web.deps import RuntimeDep
from marketbridge.web.policy import PageReader, Reader


class FlowUseOut(BaseModel):
    flow: str
    last_minute: int
    last_hour: int


class DeferralOut(BaseModel):
    """A flow's latest deferral: it put ``api`` off until ``until`` (``waiting``: still now)."""

    flow: str
    api: str
    at: str
    until: str
    waiting: bool
    reason: str
    text: str


class ApiBudgetOut(BaseModel):
    """One Mirakl API: its pace and the limits it gives (None: one call per business event, no
    limit), the calls of the last minute and hour (in all and per flow), and the next free slot."""

    api: str
    pace_seconds: float | None
    pace: str
    limit_per_minute: int | None
    limit_per_hour: int | None
    last_minute: int
    last_hour: int
    over: bool
    flows: list[FlowUseOut]
    next_free_in_seconds: float
    next_free_at: str
    deferrals: list[DeferralOut]


class BudgetsOut(BaseModel):
    at: str
    apis: list[ApiBudgetOut]
    deferrals: list[DeferralOut]


router = APIRouter()
api = APIRouter(tags=["mirakl"])


@router.get("/budgets", response_class=HTMLResponse)
def budgets_page(request: Request, runtime: RuntimeDep, user: PageReader) -> Response:
    report = budget_service.report(runtime)
    template = "console/_budget_table.html" if request.headers.get("HX-Request") else "console/budgets.html"
    return render(request, template, report=report, flows=FLOWS, in_words=in_words, pace_words=pace_words)


@api.get("/api/mirakl/budgets", response_model=BudgetsOut)
def budgets_json(runtime: RuntimeDep, user: Reader) -> BudgetsOut:
    """Each Mirakl API's budget: limit, calls in the last minute and hour (per flow), next free slot,
    and each flow's latest deferral."""
    return BudgetsOut.model_validate(budget_service.report(runtime).as_dict())


__all__ = ["api", "router"]
