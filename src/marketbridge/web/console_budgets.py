"""The "Marketplace budgets" page (``/budgets``) and its JSON twin (``GET /api/mirakl/budgets``).

For each Mirakl API: the limit (from its pace), the calls of the last minute and hour, in all and
per flow, the next free slot, and a plain-English line for each flow that is deferring ("order
feed: waiting for OR11, next slot in 42 s"). Both read ``services.budgets.report``; both need the
``read`` action like every other console page and JSON read. The page refreshes itself every
15 seconds through htmx (the table only).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from marketbridge.call_flow import FLOWS
from marketbridge.domain.budgets import in_words, pace_words
from marketbridge.services import budgets as budget_service
from marketbridge.web.console_templates import render
from marketbridge.web.deps import RuntimeDep
from marketbridge.web.policy import PageReader, Reader

router = APIRouter()
api = APIRouter(tags=["mirakl"])


@router.get("/budgets", response_class=HTMLResponse)
def budgets_page(request: Request, runtime: RuntimeDep, user: PageReader) -> Response:
    report = budget_service.report(runtime)
    template = "console/_budget_table.html" if request.headers.get("HX-Request") else "console/budgets.html"
    return render(request, template, report=report, flows=FLOWS, in_words=in_words, pace_words=pace_words)


@api.get("/api/mirakl/budgets")
def budgets_json(runtime: RuntimeDep, user: Reader) -> dict[str, Any]:
    """Each Mirakl API's budget: limit, calls in the last minute and hour (per flow), next free slot,
    and each flow's latest deferral."""
    return budget_service.report(runtime).as_dict()


__all__ = ["api", "router"]
