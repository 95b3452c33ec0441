"""Console pages about each flow's business objects: orders, stock, shipments, refunds, catalogue,
audit drift, and the carrier-mapping and stock-rule editors.

Every page reads through the flow's own service functions (the same ones its CLI and JSON API
use), imported plainly, and renders "not available yet" when the flow's tables are missing from
this database, so the console never crashes on a partially migrated installation. The two editors write
through the flow services too (``shipments.add_mapping`` / ``delete_mapping``,
``stock.rules.put_rule`` / ``remove_rule``), which write the audit log.
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
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import ExceptionRecord, User
from marketbridge.domain import stock as stock_domain
from marketbridge.domain.auth import Action, may
from marketbridge.services import audit as audit_service
from marketbridge.services import catalogue as catalogue_service
from marketbridge.services import dashboard
from marketbridge.services import exceptions as exception_service
from marketbridge.services import orders as order_service
from marketbridge.services import refunds as refund_service
from marketbridge.services import shipments as shipment_service
from marketbridge.services.stock import rules as stock_rules
from marketbridge.services.stock import state as stock_state
from marketbridge.web.console_auth import role_of
from marketbridge.web.console_templates import as_datetime, render
from marketbridge.web.deps import RuntimeDep, SessionDep
from marketbridge.web.params import INT4_MAX, DbId
from marketbridge.web.policy import PageReader, requires

log = structlog.get_logger(__name__)
router = APIRouter()
MappingEditor = Annotated[User, Depends(requires(Action.EDIT_CARRIER_MAPPINGS, "session"))]
RuleEditor = Annotated[User, Depends(requires(Action.EDIT_STOCK_RULES, "session"))]


@dataclass(frozen=True)
class Highlight:
    text: str
    href: str
    kind: str = "warn"


def _ready(session: Session, *tables: str) -> bool:
    return all(dashboard.has_table(session, t) for t in tables)


def _open_exceptions_for(session: Session, object_ids: list[str]) -> dict[str, list[ExceptionRecord]]:
    if not object_ids:
        return {}
    rows = session.scalars(
        select(ExceptionRecord).where(
            ExceptionRecord.object_id.in_(object_ids), ExceptionRecord.state.in_(exception_service.ACTIVE_STATES)
        )
    ).all()
    found: dict[str, list[ExceptionRecord]] = {}
    for row in rows:
        found.setdefault(row.object_id, []).append(row)
    return found


# --- orders ---------------------------------------------------------------------------------------

ORDER_STAGES = ["received", "held", "accepted", "awaiting_payment", "created", "shipped", "refunded",
                "refused", "cancelled", "closed"]
ORDER_STAGE_WORDS = {
    "received": "Just arrived", "held": "Waiting for a decision", "accepted": "Accepted, waiting for payment",
    "awaiting_payment": "Paid, being created in Adobe Commerce", "created": "In Adobe Commerce, to ship",
    "shipped": "Shipped", "refunded": "Refunded", "refused": "Refused", "cancelled": "Cancelled", "closed": "Closed",
}


def orders_data(session: Session, runtime: Any, *, state: str | None, q: str | None) -> dict[str, Any] | dashboard.Unavailable:
    orders = order_service
    if not _ready(session, "marketplace_orders"):
        return dashboard.Unavailable("the orders flow is not installed on this server yet.")
    from marketbridge.adapters.db.models.orders import MarketplaceOrder

    counts = dict(session.execute(select(MarketplaceOrder.state, func.count()).group_by(MarketplaceOrder.state)).all())
    now = utcnow()
    held = session.scalars(
        select(MarketplaceOrder).where(MarketplaceOrder.state.in_(["held", "received"]))
        .order_by(MarketplaceOrder.acceptance_deadline.is_(None), MarketplaceOrder.acceptance_deadline).limit(100)
    ).all()
    stuck_types = [c for c in dashboard.exception_types() if c.startswith("order_stuck")]
    stuck = session.scalars(
        select(ExceptionRecord).where(ExceptionRecord.type.in_(stuck_types),
                                      ExceptionRecord.state.in_(exception_service.ACTIVE_STATES))
        .order_by(ExceptionRecord.first_seen).limit(100)
    ).all() if stuck_types else []
    query = select(MarketplaceOrder)
    if state:
        query = query.where(MarketplaceOrder.state == state)
    if q:
        query = query.where(MarketplaceOrder.order_id.contains(q.strip(), autoescape=True)
                             | MarketplaceOrder.magento_increment_id.contains(q.strip(), autoescape=True))
    recent = session.scalars(query.order_by(MarketplaceOrder.marketplace_created_at.desc(), MarketplaceOrder.id.desc())
                             .limit(100)).all()
    detail = None
    if q:
        exact = orders.get_order_record(session, q.strip(), runtime.settings.order_connection) \
            if hasattr(orders, "get_order_record") else None
        if exact is not None:
            detail = orders.to_dict(exact, detail=True)
    to_ship = []
    for o in session.scalars(select(MarketplaceOrder).where(
            MarketplaceOrder.state.in_(["accepted", "awaiting_payment", "created"])).limit(500)):
        deadline = as_datetime((o.raw or {}).get("shipping_deadline"))
        if deadline is not None:
            to_ship.append((o, (deadline - now).total_seconds()))
    to_ship.sort(key=lambda pair: pair[1])
    exceptions = _open_exceptions_for(session, [o.order_id for o in [*held, *recent, *(p[0] for p in to_ship[:50])]])
    return {
        "to_ship": to_ship[:50],
        "stages": [(s, ORDER_STAGE_WORDS.get(s, s), int(counts.get(s, 0))) for s in ORDER_STAGES],
        "held": [(o, (o.acceptance_deadline - now).total_seconds() if o.acceptance_deadline else None) for o in held],
        "stuck": stuck,
        "recent": recent,
        "detail": detail,
        "exceptions": exceptions,
    }


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: PageReader,
                state: Annotated[str | None, Query(max_length=32)] = None,
                q: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    return render(request, "console/orders.html", data=orders_data(session, runtime, state=state, q=q),
                  state=state or "", q=q or "", stage_words=ORDER_STAGE_WORDS)


# --- stock -----------------------------------------------------------------------------------------


def stock_data(session: Session, sku: str | None) -> dict[str, Any] | dashboard.Unavailable:
    state = stock_state
    if not _ready(session, "sku_states", "sync_batches", "sync_outbox"):
        return dashboard.Unavailable("the stock tables are not in this database yet.")
    from marketbridge.adapters.db.models.stock import SyncOutbox

    oldest = session.scalar(select(func.min(SyncOutbox.pending_first_noticed_at))
                            .where(SyncOutbox.pending_value.is_not(None)))
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

WAITING_SHIPMENT_STATES = ["new", "waiting_carrier", "waiting_tracking", "ready", "partial", "sent", "error"]
SHIPMENT_WORDS = {
    "new": "Just seen", "waiting_carrier": "Waiting for a carrier mapping", "waiting_tracking": "Waiting for a tracking number",
    "ready": "Being sent", "partial": "Tracking sent, rest of order to ship", "sent": "Sent, waiting for John Lewis",
    "confirmed": "Confirmed by John Lewis", "error": "Refused by John Lewis",
}


def shipments_data(session: Session, state: str | None) -> dict[str, Any] | dashboard.Unavailable:
    shipments = shipment_service
    if not _ready(session, "shipments_out"):
        return dashboard.Unavailable("the shipments flow is not installed on this server yet.")
    counts = shipments.counts_by_state(session)
    if state:
        rows = shipments.list_shipments(session, state=state, limit=200)
    else:
        rows = [r for s in WAITING_SHIPMENT_STATES for r in shipments.list_shipments(session, state=s, limit=200)]
        rows.sort(key=lambda r: r.detected_at or "")
    return {"counts": [(s, SHIPMENT_WORDS.get(s, s), int(counts.get(s, 0))) for s in [*WAITING_SHIPMENT_STATES, "confirmed"]],
            "rows": rows, "awaiting": sum(int(counts.get(s, 0)) for s in WAITING_SHIPMENT_STATES)}


@router.get("/shipments", response_class=HTMLResponse)
def shipments_page(request: Request, session: SessionDep, user: PageReader,
                   state: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    return render(request, "console/shipments.html", data=shipments_data(session, state), state=state or "",
                  words=SHIPMENT_WORDS)


# --- refunds ---------------------------------------------------------------------------------------


def refunds_data(session: Session, status_: str | None) -> dict[str, Any] | dashboard.Unavailable:
    refunds = refund_service
    if not _ready(session, "refunds_out", "marketplace_refunds"):
        return dashboard.Unavailable("the refunds flow is not installed on this server yet.")
    from marketbridge.adapters.db.models.refunds import RefundOut

    counts = dict(session.execute(select(RefundOut.status, func.count()).group_by(RefundOut.status)).all())
    return {"counts": sorted((str(k), int(v)) for k, v in counts.items()),
            "memos": refunds.list_refunds(session, status=status_ or None, limit=100),
            "marketplace": refunds.list_marketplace_refunds(session, limit=50)}


@router.get("/refunds", response_class=HTMLResponse)
def refunds_page(request: Request, session: SessionDep, user: PageReader,
                 status_: Annotated[str | None, Query(alias="status", max_length=32)] = None) -> Response:
    return render(request, "console/refunds.html", data=refunds_data(session, status_), status=status_ or "")


# --- catalogue and audit ----------------------------------------------------------------------------


def catalogue_data(session: Session, status_: str | None, q: str | None) -> dict[str, Any] | dashboard.Unavailable:
    catalogue = catalogue_service
    if not _ready(session, "catalogue_listings"):
        return dashboard.Unavailable("the catalogue flow is not installed on this server yet.")
    from marketbridge.adapters.db.models.catalogue import Listing

    counts = dict(session.execute(select(Listing.status, func.count()).group_by(Listing.status)).all())
    query = select(Listing).order_by(Listing.updated_at.desc())
    if status_:
        query = query.where(Listing.status == status_)
    if q:
        query = query.where(Listing.magento_sku.contains(q.strip(), autoescape=True)
                             | Listing.offer_sku.contains(q.strip(), autoescape=True))
    rows = [catalogue.listing_view(r) for r in session.scalars(query.limit(200))]
    order = ["live", "pending", "new", "inactive", "rejected", "invalid", "excluded"]
    return {"counts": [(s, int(counts.get(s, 0))) for s in order] +
            [(str(s), int(n)) for s, n in counts.items() if s not in order], "rows": rows}


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue_page(request: Request, session: SessionDep, user: PageReader,
                   status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
                   q: Annotated[str | None, Query(max_length=255)] = None) -> Response:
    return render(request, "console/catalogue.html", data=catalogue_data(session, status_, q), status=status_ or "",
                  q=q or "")


def audit_data(session: Session, run_id: int | None, kind: str | None) -> dict[str, Any] | dashboard.Unavailable:
    audit = audit_service
    if not _ready(session, "audit_runs", "audit_drifts"):
        return dashboard.Unavailable("the audit is not installed on this server yet.")
    runs = audit.list_runs(session, limit=20)
    chosen = run_id or next((r.id for r in runs if r.status == "complete"), None) or (runs[0].id if runs else None)
    run = audit.get_run(session, chosen, kind=kind or None, limit=500) if chosen else None
    return {"runs": runs, "run": run}


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, user: PageReader,
               run: Annotated[int | None, Query(ge=1, le=INT4_MAX)] = None,
               kind: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    return render(request, "console/audit.html", data=audit_data(session, run, kind), kind=kind or "")


# --- editors: carrier mapping and stock rules ----------------------------------------------------------


def carriers_data(session: Session) -> dict[str, Any] | dashboard.Unavailable:
    shipments = shipment_service
    if not _ready(session, "carrier_mappings", "marketplace_carriers"):
        return dashboard.Unavailable("the shipments flow is not installed on this server yet.")
    unmapped = session.scalars(select(ExceptionRecord).where(
        ExceptionRecord.type == "carrier_unmapped", ExceptionRecord.state.in_(exception_service.ACTIVE_STATES))).all()
    return {"mappings": shipments.list_mappings(session), "carriers": shipments.cached_carriers(session),
            "unmapped": unmapped}


@router.get("/carriers", response_class=HTMLResponse)
def carriers_page(request: Request, session: SessionDep, user: PageReader) -> Response:
    return render(request, "console/carriers.html", data=carriers_data(session), message=None, error=None,
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
                  data=carriers_data(session), message=message, error=error, can_edit=True)


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


def rules_data(session: Session) -> dict[str, Any] | dashboard.Unavailable:
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
        message = f"Saved the {saved.get('kind')} rule for {saved.get('scope')} {saved.get('scope_key') or ''}".strip() + "."
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


def overview_highlights(session: Session, runtime: Any) -> list[Highlight]:
    """Short plain-English lines for the overview: what to look at today, most urgent first."""
    items: list[Highlight] = []
    orders = _safe(lambda: orders_data(session, runtime, state=None, q=None), None)
    if isinstance(orders, dict):
        for order, left in orders["held"][:5]:
            if order.state != "held":
                continue
            when = "" if left is None else (" — deadline passed" if left < 0 else f" — {int(left // 3600)} h {int(left % 3600 // 60)} min left")
            items.append(Highlight(f"Order {order.order_id} is waiting for a decision{when}",
                                   f"/orders?q={order.order_id}", "bad" if left is not None and left < 6 * 3600 else "warn"))
        if orders["stuck"]:
            items.append(Highlight(f"{len(orders['stuck'])} order(s) stuck in one stage", "/orders", "warn"))
    shipments = _safe(lambda: shipments_data(session, None), None)
    if isinstance(shipments, dict) and shipments["awaiting"]:
        items.append(Highlight(f"{shipments['awaiting']} shipment(s) awaiting confirmation on John Lewis", "/shipments", "warn"))
    stock = _safe(lambda: stock_data(session, None), None)
    if isinstance(stock, dict):
        if stock["lag_seconds"] > 15 * 60:
            items.append(Highlight(f"Stock updates are {int(stock['lag_seconds'] // 60)} minutes behind", "/stock", "bad"))
        if stock["summary"].get("errors"):
            items.append(Highlight(f"{stock['summary']['errors']} SKU(s) whose last stock or price update was rejected",
                                   "/stock", "warn"))
    refunds = _safe(lambda: refunds_data(session, "held"), None)
    if isinstance(refunds, dict) and refunds["memos"]:
        items.append(Highlight(f"{len(refunds['memos'])} credit memo(s) held, not refunded on John Lewis", "/refunds?status=held", "warn"))
    audit = _safe(lambda: audit_data(session, None, None), None)
    if isinstance(audit, dict) and audit["run"] and audit["run"].drift_count:
        items.append(Highlight(f"The last audit found {audit['run'].drift_count} difference(s) between the two sides",
                               "/audit", "warn"))
    return items


def metric_families(session: Session, runtime: Any) -> Iterator[GaugeMetricFamily]:
    """Orders by state and imports by result, read from the flows' tables at scrape time."""
    if _ready(session, "marketplace_orders"):
        from marketbridge.adapters.db.models.orders import MarketplaceOrder

        orders = GaugeMetricFamily("marketbridge_orders", "Marketplace orders by marketbridge state.", labels=["state"])
        for state, n in session.execute(select(MarketplaceOrder.state, func.count()).group_by(MarketplaceOrder.state)):
            orders.add_metric([state], n)
        yield orders
    imports = GaugeMetricFamily("marketbridge_imports", "Marketplace imports sent, by API and result (last 7 days).",
                                labels=["api", "result"])
    since = utcnow() - dt.timedelta(days=7)
    if _ready(session, "sync_batches"):
        from marketbridge.adapters.db.models.stock import SyncBatch

        for api, state, n in session.execute(select(SyncBatch.api, SyncBatch.state, func.count())
                                             .where(SyncBatch.created_at >= since).group_by(SyncBatch.api, SyncBatch.state)):
            imports.add_metric([api, state], n)
    if _ready(session, "catalogue_imports"):
        from marketbridge.adapters.db.models.catalogue import CatalogueImport

        for api, state, n in session.execute(select(CatalogueImport.api, CatalogueImport.status, func.count())
                                             .where(CatalogueImport.submitted_at >= since)
                                             .group_by(CatalogueImport.api, CatalogueImport.status)):
            imports.add_metric([api, state], n)
    yield imports
    if _ready(session, "sync_outbox"):
        from marketbridge.adapters.db.models.stock import SyncOutbox

        oldest = session.scalar(select(func.min(SyncOutbox.pending_first_noticed_at))
                                .where(SyncOutbox.pending_value.is_not(None)))
        lag = GaugeMetricFamily("marketbridge_stock_sync_lag_seconds",
                                "Age of the oldest stock or price change not yet sent to the marketplace (0: none).")
        lag.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0.0)
        yield lag
