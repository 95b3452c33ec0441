"""Console pages about each flow's business objects: orders, stock, shipments, refunds, catalogue,
audit drift, and the carrier-mapping and stock-rule editors.

Every page reads through the flow's own view functions (the same modules its CLI and JSON API
use), imported plainly, and renders "not available yet" when the flow's tables are missing from
this database, so the console never crashes on a partially migrated installation. The two editors write
through the flow services too (``shipments.add_mapping`` / ``delete_mapping``,
``stock.rules.put_rule`` / ``remove_rule``), which write the audit log. This module writes no
query and holds no flow rule (which states count as waiting, what is ordered by deadline): those are
the flows' (issue 18; ``tests/unit/test_architecture_guards.py`` keeps SQLAlchemy out of ``web``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from prometheus_client.core import GaugeMetricFamily

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.console import has_table
from marketbridge.domain import stock as stock_domain
from marketbridge.domain.auth import Action, may
from marketbridge.domain.orders import OrderState
from marketbridge.domain.shipments import CARRIER_UNMAPPED, ShipmentState
from marketbridge.ports import AuditStore, CatalogueStore, RefundsStore, ShipmentsStore
from marketbridge.services import audit as audit_service
from marketbridge.services import orders as order_service
from marketbridge.services import refunds as refund_service
from marketbridge.services import shipments as shipment_service
from marketbridge.services.catalogue import views as catalogue_views
from marketbridge.services.console import dashboard
from marketbridge.services.orders import views as order_views
from marketbridge.services.refunds import reading as refund_reading
from marketbridge.services.refunds.states import HELD as REFUND_HELD
from marketbridge.services.shipments import console as shipment_console
from marketbridge.services.stock import rules as stock_rules
from marketbridge.services.stock import state as stock_state
from marketbridge.web.console_auth import role_of
from marketbridge.web.console_templates import render
from marketbridge.web.deps import ConsoleUser, DbSession, RuntimeDep, SessionDep, console_queries
from marketbridge.web.params import INT4_MAX, DbId
from marketbridge.web.policy import PageReader, requires

log = structlog.get_logger(__name__)
router = APIRouter()
MappingEditor = Annotated[ConsoleUser, Depends(requires(Action.EDIT_CARRIER_MAPPINGS, "session"))]
RuleEditor = Annotated[ConsoleUser, Depends(requires(Action.EDIT_STOCK_RULES, "session"))]


@dataclass(frozen=True)
class Highlight:
    text: str
    href: str
    kind: str = "warn"


def _ready(session: DbSession, *tables: str) -> bool:
    """Whether the flow's tables are installed (a schema look-up, ``adapters.db.console``)."""
    return all(has_table(session, t) for t in tables)


# --- orders ---------------------------------------------------------------------------------------

ORDER_STAGE_WORDS = {
    OrderState.RECEIVED.value: "Just arrived", OrderState.HELD.value: "Waiting for a decision",
    OrderState.ACCEPTED.value: "Accepted, waiting for payment",
    OrderState.AWAITING_PAYMENT.value: "Paid, being created in Adobe Commerce",
    OrderState.CREATED.value: "In Adobe Commerce, to ship", OrderState.SHIPPED.value: "Shipped",
    OrderState.REFUNDED.value: "Refunded", OrderState.REFUSED.value: "Refused", OrderState.CANCELLED.value: "Cancelled",
    OrderState.CLOSED.value: "Closed",
}


def orders_data(session: DbSession, runtime: Any, *, state: str | None,
                q: str | None) -> dict[str, Any] | dashboard.Unavailable:
    orders = order_service
    if not _ready(session, "marketplace_orders"):
        return dashboard.Unavailable("the orders flow is not installed on this server yet.")
    now = utcnow()
    detail = None
    with runtime.orders_store.unit_of_work() as repo:  # the page shows only loaded columns afterwards
        counts = order_views.counts_by_state(repo)
        held = order_views.awaiting_decision(repo, now, limit=100)
        recent = order_views.search_orders(repo, state=state, q=q, limit=100)
        if q:
            exact = repo.order(q.strip(), runtime.settings.order_connection)
            if exact is not None:
                detail = orders.to_dict(exact, detail=True)
        to_ship = order_views.to_ship_by_deadline(repo, now, limit=50)
    queries = console_queries(runtime, session)
    stuck = dashboard.active_issues_of(queries, order_views.STUCK_ISSUES, limit=100)
    issues = dashboard.open_issues_for(
        queries, [o.order_id for o in [*(h.order for h in held), *recent, *(t.order for t in to_ship)]])
    return {
        "to_ship": [(t.order, t.seconds_left) for t in to_ship],
        "stages": [(s.value, ORDER_STAGE_WORDS.get(s.value, s.value), counts.get(s.value, 0))
                   for s in order_views.CONSOLE_STAGES],
        "held": [(h.order, h.seconds_left) for h in held],
        "stuck": stuck,
        "recent": recent,
        "detail": detail,
        "exceptions": issues,
    }


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: PageReader,
                state: Annotated[str | None, Query(max_length=32)] = None,
                q: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    return render(request, "console/orders.html", data=orders_data(session, runtime, state=state, q=q),
                  state=state or "", q=q or "", stage_words=ORDER_STAGE_WORDS)


# --- stock -----------------------------------------------------------------------------------------


def stock_data(session: DbSession, sku: str | None) -> dict[str, Any] | dashboard.Unavailable:
    state = stock_state
    if not _ready(session, "sku_states", "sync_batches", "sync_outbox"):
        return dashboard.Unavailable("the stock tables are not in this database yet.")
    oldest = state.oldest_pending_change(session)
    lag = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    view = history = None
    if sku:
        view = state.sku_view(session, sku.strip())
        history = state.sku_history(session, sku.strip()) if view is not None else []
    return {"summary": state.summary(session), "lag_seconds": lag, "oldest_pending": oldest,
            "batches": state.list_batches(session, limit=20), "errors": state.list_states(session, result="error", limit=50),
            "sku": sku or "", "view": view, "history": history}


@router.get("/stock", response_class=HTMLResponse)
def stock_page(request: Request, session: SessionDep, user: PageReader,
               sku: Annotated[str | None, Query(max_length=128)] = None) -> Response:
    return render(request, "console/stock.html", data=stock_data(session, sku), sku=sku or "")


# --- shipments --------------------------------------------------------------------------------------

SHIPMENT_WORDS = {
    ShipmentState.NEW.value: "Just seen", ShipmentState.WAITING_CARRIER.value: "Waiting for a carrier mapping",
    ShipmentState.WAITING_TRACKING.value: "Waiting for a tracking number", ShipmentState.READY.value: "Being sent",
    ShipmentState.PARTIAL.value: "Tracking sent, rest of order to ship",
    ShipmentState.SENT.value: "Sent, waiting for John Lewis", ShipmentState.CONFIRMED.value: "Confirmed by John Lewis",
    ShipmentState.ERROR.value: "Refused by John Lewis",
}


def shipments_data(session: DbSession, store: ShipmentsStore, state: str | None) -> dict[str, Any] | dashboard.Unavailable:
    shipments = shipment_service
    if not _ready(session, "shipments_out"):
        return dashboard.Unavailable("the shipments flow is not installed on this server yet.")
    with store.unit_of_work() as repo:
        counts = shipments.counts_by_state(repo)
        if state:
            rows = shipments.list_shipments(repo, state=state, limit=200)
        else:
            rows = shipment_console.awaiting_confirmation(repo, limit_per_state=200)
    awaiting = [s.value for s in shipment_console.AWAITING_CONFIRMATION]
    return {"counts": [(s, SHIPMENT_WORDS.get(s, s), int(counts.get(s, 0)))
                       for s in [*awaiting, ShipmentState.CONFIRMED.value]],
            "rows": rows, "awaiting": sum(int(counts.get(s, 0)) for s in awaiting)}


@router.get("/shipments", response_class=HTMLResponse)
def shipments_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: PageReader,
                   state: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    return render(request, "console/shipments.html", data=shipments_data(session, runtime.shipments_store, state), state=state or "",
                  words=SHIPMENT_WORDS)


# --- refunds ---------------------------------------------------------------------------------------


def refunds_data(session: DbSession, store: RefundsStore, status_: str | None) -> dict[str, Any] | dashboard.Unavailable:
    refunds = refund_service
    if not _ready(session, "refunds_out", "marketplace_refunds"):
        return dashboard.Unavailable("the refunds flow is not installed on this server yet.")
    with store.unit_of_work() as repo:
        return {"counts": refund_reading.counts_by_status(repo),
                "memos": refunds.list_refunds(repo, status=status_ or None, limit=100),
                "marketplace": refunds.list_marketplace_refunds(repo, limit=50)}


@router.get("/refunds", response_class=HTMLResponse)
def refunds_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: PageReader,
                 status_: Annotated[str | None, Query(alias="status", max_length=32)] = None) -> Response:
    return render(request, "console/refunds.html", data=refunds_data(session, runtime.refunds_store, status_),
                  status=status_ or "")


# --- catalogue and audit ----------------------------------------------------------------------------


def catalogue_data(session: DbSession, store: CatalogueStore, status_: str | None,
                   q: str | None) -> dict[str, Any] | dashboard.Unavailable:
    if not _ready(session, "catalogue_listings"):
        return dashboard.Unavailable("the catalogue flow is not installed on this server yet.")
    with store.unit_of_work() as repo:
        return {"counts": catalogue_views.listing_counts(repo),
                "rows": catalogue_views.search_listings(repo, status=status_, q=q, limit=200)}


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: PageReader,
                   status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
                   q: Annotated[str | None, Query(max_length=255)] = None) -> Response:
    return render(request, "console/catalogue.html", data=catalogue_data(session, runtime.catalogue_store, status_, q),
                  status=status_ or "", q=q or "")


def audit_data(session: DbSession, store: AuditStore, run_id: int | None,
               kind: str | None) -> dict[str, Any] | dashboard.Unavailable:
    audit = audit_service
    if not _ready(session, "audit_runs", "audit_drifts"):
        return dashboard.Unavailable("the audit is not installed on this server yet.")
    with store.unit_of_work() as repo:
        runs = audit.list_runs(repo, limit=20)
        chosen = run_id or next((r.id for r in runs if r.status == "complete"), None) or (runs[0].id if runs else None)
        run = audit.get_run(repo, chosen, kind=kind or None, limit=500) if chosen else None
    return {"runs": runs, "run": run}


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: PageReader,
               run: Annotated[int | None, Query(ge=1, le=INT4_MAX)] = None,
               kind: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    return render(request, "console/audit.html", data=audit_data(session, runtime.audit_store, run, kind),
                  kind=kind or "")


# --- editors: carrier mapping and stock rules ----------------------------------------------------------


def carriers_data(session: DbSession, runtime: Any) -> dict[str, Any] | dashboard.Unavailable:
    shipments = shipment_service
    if not _ready(session, "carrier_mappings", "marketplace_carriers"):
        return dashboard.Unavailable("the shipments flow is not installed on this server yet.")
    unmapped = dashboard.active_issues_of(console_queries(runtime, session), [CARRIER_UNMAPPED])
    with runtime.shipments_store.unit_of_work() as repo:
        return {"mappings": shipments.list_mappings(repo), "carriers": shipments.cached_carriers(repo),
                "unmapped": unmapped}


@router.get("/carriers", response_class=HTMLResponse)
def carriers_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: PageReader) -> Response:
    return render(request, "console/carriers.html", data=carriers_data(session, runtime), message=None, error=None,
                  can_edit=_can_edit(user, Action.EDIT_CARRIER_MAPPINGS))


def _can_edit(user: Any, action: Action) -> bool:
    """Whether to show the editor (the POST routes enforce the same policy with ``requires``)."""
    return may(role_of(user), action)


@router.post("/carriers", response_class=HTMLResponse)
def carriers_save(request: Request, session: SessionDep, runtime: RuntimeDep, user: MappingEditor,
                  marketplace_code: Annotated[str, Form(max_length=64)],
                  magento_carrier_code: Annotated[str, Form(max_length=64)] = "",
                  title: Annotated[str, Form(max_length=255)] = "") -> Response:
    shipments = shipment_service
    message = error = None
    session.commit()  # the service writes in its own transaction (SQLite allows one writer)
    try:
        added = shipments.add_mapping(runtime, marketplace_code=marketplace_code.strip(),
                                      magento_carrier_code=magento_carrier_code.strip() or None,
                                      title=title.strip() or None, actor=user.name)
        mapping = added.mapping
        message = (f"Saved: {mapping.title or mapping.magento_carrier_code} → "
                   f"{mapping.marketplace_code}. {len(added.released_shipments)} waiting shipment(s) released.")
    except ValueError as problem:
        error = str(problem)
    return render(request, "console/carriers.html", status_code=200 if error is None else 400,
                  data=carriers_data(session, runtime), message=message, error=error, can_edit=True)


@router.post("/carriers/{mapping_id}/delete")
def carriers_delete(session: SessionDep, runtime: RuntimeDep, user: MappingEditor, mapping_id: DbId) -> Response:
    shipments = shipment_service
    session.commit()
    if not shipments.delete_mapping(runtime, mapping_id, actor=user.name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such mapping.")
    return RedirectResponse("/carriers", status_code=303)


RULE_FIELDS = {
    "stock": [("buffer", "Units held back"), ("allocation_percent", "Share offered (%)"),
              ("max_quantity", "Most shown"), ("zero_below", "Show 0 below")],
    "price": [("markup_percent", "Markup (%)"), ("fixed_amount", "Amount added"), ("rounding", "Rounding")],
}


def rules_data(session: DbSession) -> dict[str, Any] | dashboard.Unavailable:
    rules, domain = stock_rules, stock_domain
    if not _ready(session, "stock_rules"):
        return dashboard.Unavailable("the stock tables are not in this database yet.")
    rounding = [r.value for r in getattr(domain, "Rounding", [])]
    return {"rules": rules.list_rules(session), "scopes": [s.value for s in domain.Scope],
            "kinds": [k.value for k in domain.Kind], "fields": RULE_FIELDS, "rounding": rounding}


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: SessionDep, user: PageReader) -> Response:
    return render(request, "console/rules.html", data=rules_data(session), message=None, error=None,
                  can_edit=_can_edit(user, Action.EDIT_STOCK_RULES))


@router.post("/rules", response_class=HTMLResponse)
async def rules_save(request: Request, session: SessionDep, user: RuleEditor) -> Response:
    form = await request.form()
    rules, domain = stock_rules, stock_domain
    kind_value = str(form.get("kind", ""))
    params: dict[str, object] = {}
    error = message = None
    try:
        kind = domain.Kind(kind_value)
        scope = domain.Scope(str(form.get("scope", "")))
        for name, _label in RULE_FIELDS.get(kind.value, []):
            raw = str(form.get(name, "")).strip()
            if raw == "":
                continue
            if name == "rounding":
                params[name] = raw
            else:
                number = float(raw)
                params[name] = int(number) if number.is_integer() and name not in ("markup_percent", "fixed_amount") else number
        saved = rules.put_rule(session, kind, scope, str(form.get("scope_key", "")).strip(), params, actor=user.name,
                               note=str(form.get("note", ""))[:500])
        message = f"Saved the {saved.kind} rule for {saved.scope} {saved.scope_key or ''}".strip() + "."
    except (ValueError, KeyError) as problem:
        error = f"Not saved: {problem}"
    except Exception as problem:
        if type(problem).__name__ != "RuleError":
            raise
        error = f"Not saved: {problem}"
    session.flush()
    return render(request, "console/rules.html", status_code=200 if error is None else 400, data=rules_data(session),
                  message=message, error=error, can_edit=True)


@router.post("/rules/{rule_id}/delete")
def rules_delete(session: SessionDep, user: RuleEditor, rule_id: DbId) -> Response:
    rules = stock_rules
    try:
        rules.remove_rule(session, rule_id, actor=user.name)
    except Exception as problem:
        if type(problem).__name__ != "RuleError":
            raise
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(problem)) from None
    return RedirectResponse("/rules", status_code=303)


# --- overview highlights and metrics -----------------------------------------------------------------


def _safe(fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
    except Exception as error:  # a flow's table or service in flux must not take the overview down
        log.warning("console.section_failed", section=getattr(fn, "__name__", "?"), error=type(error).__name__)
        return default


def overview_highlights(session: DbSession, runtime: Any) -> list[Highlight]:
    """Short plain-English lines for the overview: what to look at today, most urgent first."""
    items: list[Highlight] = []
    orders = _safe(lambda: orders_data(session, runtime, state=None, q=None), None)
    if isinstance(orders, dict):
        for order, left in orders["held"][:5]:
            if order.state != OrderState.HELD:
                continue
            when = "" if left is None else (" — deadline passed" if left < 0 else f" — {int(left // 3600)} h {int(left % 3600 // 60)} min left")
            items.append(Highlight(f"Order {order.order_id} is waiting for a decision{when}",
                                   f"/orders?q={order.order_id}", "bad" if left is not None and left < 6 * 3600 else "warn"))
        if orders["stuck"]:
            items.append(Highlight(f"{len(orders['stuck'])} order(s) stuck in one stage", "/orders", "warn"))
    shipments = _safe(lambda: shipments_data(session, runtime.shipments_store, None), None)
    if isinstance(shipments, dict) and shipments["awaiting"]:
        items.append(Highlight(f"{shipments['awaiting']} shipment(s) awaiting confirmation on John Lewis", "/shipments", "warn"))
    stock = _safe(lambda: stock_data(session, None), None)
    if isinstance(stock, dict):
        if stock["lag_seconds"] > 15 * 60:
            items.append(Highlight(f"Stock updates are {int(stock['lag_seconds'] // 60)} minutes behind", "/stock", "bad"))
        if stock["summary"].errors:
            items.append(Highlight(f"{stock['summary'].errors} SKU(s) whose last stock or price update was rejected",
                                   "/stock", "warn"))
    refunds = _safe(lambda: refunds_data(session, runtime.refunds_store, REFUND_HELD), None)
    if isinstance(refunds, dict) and refunds["memos"]:
        items.append(Highlight(f"{len(refunds['memos'])} credit memo(s) held, not refunded on John Lewis", "/refunds?status=held", "warn"))
    audit = _safe(lambda: audit_data(session, runtime.audit_store, None, None), None)
    if isinstance(audit, dict) and audit["run"] and audit["run"].drift_count:
        items.append(Highlight(f"The last audit found {audit['run'].drift_count} difference(s) between the two sides",
                               "/audit", "warn"))
    return items


def metric_families(session: DbSession, runtime: Any) -> Iterator[GaugeMetricFamily]:
    """Orders by state and imports by result, read from the flows' tables at scrape time."""
    if _ready(session, "marketplace_orders"):
        orders = GaugeMetricFamily("marketbridge_orders", "Marketplace orders by marketbridge state.", labels=["state"])
        with runtime.orders_store.unit_of_work() as repo:
            counts = order_views.counts_by_state(repo)
        for state, n in counts.items():
            orders.add_metric([state], n)
        yield orders
    imports = GaugeMetricFamily("marketbridge_imports", "Marketplace imports sent, by API and result (last 7 days).",
                                labels=["api", "result"])
    since = utcnow() - dt.timedelta(days=7)
    if _ready(session, "sync_batches"):
        for api, state, n in stock_state.import_counts_since(session, since):
            imports.add_metric([api, state], n)
    if _ready(session, "catalogue_imports"):
        with runtime.catalogue_store.unit_of_work() as repo:
            for api, state, n in catalogue_views.import_counts_since(repo, since):
                imports.add_metric([api, state], n)
    yield imports
    if _ready(session, "sync_outbox"):
        oldest = stock_state.oldest_pending_change(session)
        lag = GaugeMetricFamily("marketbridge_stock_sync_lag_seconds",
                                "Age of the oldest stock or price change not yet sent to the marketplace (0: none).")
        lag.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0.0)
        yield lag
