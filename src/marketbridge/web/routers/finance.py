"""JSON API of the finance area: ``GET /api/finance/report?month=2026-11[&format=csv]``.

The report reads both systems live (a few calls per hundred orders), so it is computed on request.
The CSV is the same data as ``marketbridge finance report --csv``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from marketbridge.adapters.errors import IntegrationError
from marketbridge.domain.finance import MonthError
from marketbridge.services import finance as finance_service
from marketbridge.web.deps import RuntimeDep
from marketbridge.web.policy import Reader

router = APIRouter(tags=["finance"])


# response_model=None because the route also answers CSV; the JSON shape is declared for /openapi.json.
@router.get("/api/finance/report", response_model=None,
            responses={200: {"model": finance_service.FinanceReportView, "content": {"text/csv": {}}}})
def finance_report(runtime: RuntimeDep, user: Reader,
                   month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, Europe/London")],
                   format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json") -> Any:
    try:
        report = finance_service.build_report(runtime, month)
    except MonthError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except IntegrationError as error:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Could not read both systems: {error}") from None
    if format_ == "csv":
        return Response(finance_service.report_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="finance-{month}.csv"'})
    return finance_service.report_view(report)
