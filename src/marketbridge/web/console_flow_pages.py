"""Console pages about each flow's business objects: orders, stock, shipments, refunds, catalogue,
audit drift, and the carrier-mapping and stock-rule editors.

Each page reads through ``services.dashboard`` and renders "not available yet" when its flow is
not installed in this build or database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session

from marketbridge.web.console_auth import PageUser
from marketbridge.web.console_templates import render
from marketbridge.web.deps import RuntimeDep, SessionDep

router = APIRouter()


@dataclass(frozen=True)
class Highlight:
    text: str
    href: str
    kind: str = "warn"


def overview_highlights(session: Session, runtime: Any) -> list[Highlight]:
    return []


def metric_families(session: Session, runtime: Any) -> list[GaugeMetricFamily]:
    return []


def _unavailable(request: Request, title: str, reason: str) -> Response:
    return render(request, "console/unavailable.html", title=title, reason=reason)


PAGES = {
    "/orders": "Orders",
    "/stock": "Stock",
    "/shipments": "Shipments",
    "/refunds": "Refunds",
    "/catalogue": "Catalogue",
    "/audit": "Audit",
    "/carriers": "Carrier mapping",
    "/rules": "Stock rules",
}


def _make(path: str, title: str) -> None:
    def page(request: Request, session: SessionDep, runtime: RuntimeDep, user: PageUser) -> Response:
        return _unavailable(request, title, "this flow is not installed yet.")

    page.__name__ = "page_" + path.strip("/")
    router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)


for _path, _title in PAGES.items():
    _make(_path, _title)
