"""Use cases of the refunds flow: Adobe Commerce credit memos become Mirakl OR28 refunds.

The life of a credit memo (table ``refunds_out``, see its module for the states):

1. :func:`record_creditmemo` stores its id the moment we hear of it (webhook or poll).
2. :func:`prepare` reads the memo, its Adobe Commerce order (``ext_order_id`` = marketplace order
   id) and the marketplace order (OR11 by ``order_ids``), and computes the OR28 lines with the pure
   rules of :mod:`marketbridge.domain.refunds`. A problem holds the memo for finance with a
   plain-English exception; nothing is sent.
3. :func:`send` sends OR28 once. **Never doubled**: the row goes to ``sending`` (with the attempt
   time) *before* the call. If the answer is lost (time-out, 5xx, crash), the next attempt first
   re-reads the order and adopts refunds that match what we meant to send (same line, amount,
   shipping and reason, created after the attempt minus a clock margin, and not already in our
   ledger ``marketplace_refunds``) instead of sending again. A 429 is retried by the client after
   exactly ``Retry-After`` seconds (Mirakl did not process the call).
4. :func:`follow` re-reads marketplace orders: our refunds are followed to ``REFUNDED``; refunds we
   did not send (operator refunds, cancellations after debit) are recorded with
   ``origin='marketplace'`` and shown to finance, who may mirror them in Adobe Commerce with
   :func:`mirror_marketplace_refund`.

Every function takes the :class:`~marketbridge.runtime.Runtime` (settings, database, clients) and
returns JSON values, so DBOS steps can wrap them directly.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import StreamCursor
from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut, RefundReason
from marketbridge.adapters.errors import (
    NetworkError,
    NotFound,
    RateLimited,
    Rejected,
    RemoteError,
    ServerError,
)
from marketbridge.domain import refunds as rules
from marketbridge.domain.exceptions import ExceptionReport
from marketbridge.domain.money import wire_number
from marketbridge.services import exceptions as exception_service
from marketbridge.services import orders as orders_service
from marketbridge.services import skus

if TYPE_CHECKING:
    from marketbridge.adapters.magento import models as mg
    from marketbridge.adapters.mirakl import models as mk
    from marketbridge.runtime import Runtime
    from marketbridge.settings import Settings

log = structlog.get_logger(__name__)

CURSOR_CREDITMEMOS = "magento.creditmemos"
CURSOR_MARKETPLACE_REFUNDS = "mirakl.refunds.updated"
MIRROR_MARKER = "marketbridge: mirrors John Lewis refund"
_MIRROR_RE = re.compile(re.escape(MIRROR_MARKER) + r" (\S+)")

# statuses of refunds_out
NEW, PLANNED, SENDING, SENT, REFUNDED, HELD, IGNORED = "new", "planned", "sending", "sent", "refunded", "held", "ignored"
DONE_STATUSES = (SENT, REFUNDED, IGNORED)


class RefundActionError(Exception):
    """A person asked for something that cannot be done; the message says why, in plain English."""


# ============================================================================ conversions
def refund_rules(settings: Settings) -> rules.RefundRules:
    return rules.RefundRules(
        tax_rule=str(settings.refund_tax_rule.value if hasattr(settings.refund_tax_rule, "value") else settings.refund_tax_rule),
        adjustment_policy=rules.AdjustmentPolicy(settings.refund_adjustment_policy),
        reason_map=dict(settings.refund_reason_map),
        default_reason=settings.refund_reason_default,
    )


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _num(obj: Any, name: str) -> Decimal:
    """A money field of a Magento read model (known field or extra)."""
    value = getattr(obj, name, None)
    if value is None and getattr(obj, "model_extra", None):
        value = obj.model_extra.get(name)
    return _dec(value)


def _parse_time(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = str(value).replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # Magento writes UTC without a zone


def memo_from_magento(memo: mg.Creditmemo, order: mg.Order | None) -> rules.CreditMemo:
    """Top-level memo rows only (a configurable's child carries no price), amounts both ways."""
    children = {i.item_id for i in (order.items if order else []) if i.parent_item_id is not None}
    items = []
    for row in memo.items:
        if row.order_item_id in children:
            continue
        qty = int(round(float(row.qty or 0)))
        row_total = _num(row, "row_total")
        incl = _num(row, "row_total_incl_tax") or (row_total + _num(row, "tax_amount"))
        items.append(rules.MemoItem(sku=row.sku or "", qty=qty, row_total=row_total, row_total_incl_tax=incl,
                                    discount=abs(_num(row, "discount_amount"))))
    shipping = _num(memo, "shipping_amount")
    shipping_incl = _num(memo, "shipping_incl_tax") or (shipping + _num(memo, "shipping_tax_amount"))
    comment = " ".join(c.comment or "" for c in memo.comments)
    currency = getattr(memo, "order_currency_code", None) or (order.order_currency_code if order else "") or ""
    return rules.CreditMemo(
        creditmemo_id=memo.entity_id, increment_id=memo.increment_id or str(memo.entity_id), currency=currency,
        items=tuple(items), shipping=shipping, shipping_incl_tax=shipping_incl,
        adjustment_positive=_dec(memo.adjustment_positive), adjustment_negative=_dec(memo.adjustment_negative),
        comment=comment,
    )


def _taxes(taxes: Sequence[mk.TaxAmount]) -> tuple[rules.LineTax, ...]:
    return tuple(rules.LineTax(t.code, _dec(t.amount), None if t.rate is None else _dec(t.rate), t.tax_calculation_rule)
                 for t in taxes)


def market_order_from(order: mk.Order, default_mode: str, links: dict[str, str] | None = None) -> rules.MarketOrder:
    """The marketplace order for the pure rules. ``links`` (offer SKU -> Adobe Commerce SKU, the
    person-confirmed SKU links) lets a memo row match a line whose offer SKU differs."""
    links = links or {}
    lines = []
    for line in order.order_lines:
        lines.append(rules.MarketLine(
            line_id=line.order_line_id, sku=line.offer_sku, quantity=line.quantity, price=_dec(line.price),
            shipping_price=_dec(line.shipping_price), state=line.order_line_state, product_sku=links.get(line.offer_sku),
            refunds=tuple(rules.LineRefund(r.id, _dec(r.amount), _dec(r.shipping_amount), r.quantity or 0,
                                           r.refund_state or r.state or "", r.reason_code, r.created_date)
                          for r in line.refunds),
            cancelations=tuple(rules.LineCancelation(_dec(c.amount), _dec(c.shipping_amount), c.quantity or 0)
                               for c in line.cancelations),
            taxes=_taxes(line.taxes), shipping_taxes=_taxes(line.shipping_taxes),
        ))
    mode = rules.TaxMode(order.order_tax_mode or default_mode)
    return rules.MarketOrder(order.order_id, order.order_state, order.currency_iso_code, mode, tuple(lines))


def _read_order(runtime: Runtime, order_id: str) -> mk.Order | None:
    try:
        return runtime.mirakl.get_order(order_id)
    except NotFound:
        return None


# ============================================================================ recording
def record_creditmemo(runtime: Runtime, creditmemo_id: int, *, source: str = "poll") -> bool:
    """Store a credit memo id before anything acts on it. True when it was new."""
    with runtime.db.session() as session:
        if session.scalar(select(RefundOut.id).where(RefundOut.creditmemo_id == creditmemo_id)) is not None:
            return False
    try:
        with runtime.db.session() as session:
            session.add(RefundOut(creditmemo_id=creditmemo_id, status=NEW, source=source))
        return True
    except IntegrityError:  # another worker stored it first
        return False


def _row(session: Session, creditmemo_id: int, *, lock: bool = False) -> RefundOut:
    """The memo's row (created if missing); ``lock`` takes a row lock on PostgreSQL for a
    check-then-write (SQLite serialises writers anyway)."""
    query = select(RefundOut).where(RefundOut.creditmemo_id == creditmemo_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        row = RefundOut(creditmemo_id=creditmemo_id, status=NEW, source="manual")
        session.add(row)
        session.flush()
    return row


def _object_id(row: RefundOut) -> str:
    return f"creditmemo:{row.creditmemo_increment_id or row.creditmemo_id}"


def _hold(session: Session, row: RefundOut, type_: Any, message: str, detail: str = "") -> None:
    row.status = HELD
    row.problem = message
    for other in (rules.REFUND_NOT_SENT, rules.REFUND_REFUSED, rules.REFUND_ORDER_UNKNOWN,
                  rules.REFUND_ADJUSTMENT_UNALLOCATED, rules.REFUND_DELAYED):
        if other is not type_:  # one open problem per memo: the latest reason
            exception_service.clear(session, other, _object_id(row))
    exception_service.record(session, ExceptionReport(
        type=type_, object_id=_object_id(row), message=message, detail=detail,
        context={"creditmemo_id": row.creditmemo_id, "order_id": row.order_id},
    ))


def _clear_all(session: Session, row: RefundOut) -> None:
    for type_ in (rules.REFUND_NOT_SENT, rules.REFUND_REFUSED, rules.REFUND_ORDER_UNKNOWN,
                  rules.REFUND_ADJUSTMENT_UNALLOCATED, rules.REFUND_DELAYED):
        exception_service.clear(session, type_, _object_id(row))


def _known_refund_ids(session: Session) -> set[str]:
    return set(session.scalars(select(MarketplaceRefund.refund_id)).all())


def _valid_reasons(session: Session) -> dict[str, RefundReason]:
    return {r.code: r for r in session.scalars(select(RefundReason).where(RefundReason.type == "REFUND")).all()}


# ============================================================================ prepare
def prepare(runtime: Runtime, creditmemo_id: int, *, replan: bool = False) -> dict[str, Any]:
    """Read the memo and both orders, compute the OR28 lines or hold the memo for finance.

    Returns ``{"status": ...}``. A memo already sending/sent/refunded/ignored is left alone; a held
    memo is planned again only with ``replan`` (a person pressed Retry).
    """
    with runtime.db.session() as session:
        row = _row(session, creditmemo_id)
        if row.status in (SENDING, *DONE_STATUSES) or (row.status == HELD and not replan):
            return {"status": row.status, "order_id": row.order_id}
    try:
        memo = runtime.magento.get_creditmemo(creditmemo_id)
    except NotFound:
        with runtime.db.session() as session:
            row = _row(session, creditmemo_id, lock=True)
            if row.status not in (SENDING, *DONE_STATUSES):
                row.status, row.problem = IGNORED, "the credit memo no longer exists in Adobe Commerce"
            return {"status": row.status}
    order = runtime.magento.get_order(memo.order_id)
    domain_memo = memo_from_magento(memo, order)
    with runtime.db.session() as session:
        row = _row(session, creditmemo_id, lock=True)
        if row.status in (SENDING, *DONE_STATUSES):
            return {"status": row.status, "order_id": row.order_id}
        row.creditmemo_increment_id = memo.increment_id or str(memo.entity_id)
        row.magento_order_id = memo.order_id
        row.currency = domain_memo.currency
        row.memo_total = _dec(memo.grand_total)
        row.memo_created_at = _parse_time(memo.created_at)
        mirrored = _MIRROR_RE.search(domain_memo.comment)
        if mirrored:
            row.status, row.problem = IGNORED, f"mirrors marketplace refund {mirrored.group(1)}: nothing to send"
            linked = session.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == mirrored.group(1)))
            if linked is not None and linked.creditmemo_id is None:
                linked.creditmemo_id = creditmemo_id
            return {"status": row.status}
        if not order.ext_order_id:
            row.status, row.problem = IGNORED, "not a marketplace order (no ext_order_id)"
            return {"status": row.status}
        if orders_service.is_cancellation_memo(domain_memo.comment):
            # marketbridge made this memo itself to cancel an invoiced order that John Lewis
            # cancelled; John Lewis refunds its cancellations itself (found by the full soak).
            row.order_id = order.ext_order_id
            row.status, row.problem = IGNORED, "made by marketbridge to cancel the order: the marketplace refunds cancellations itself"
            return {"status": row.status}
        row.order_id = order.ext_order_id
    market = _read_order(runtime, order.ext_order_id)
    with runtime.db.session() as session:
        row = _row(session, creditmemo_id, lock=True)
        if row.status in (SENDING, *DONE_STATUSES):  # another worker got further meanwhile
            return {"status": row.status, "order_id": row.order_id}
        if market is None:
            _hold(session, row, rules.REFUND_ORDER_UNKNOWN,
                  f"Credit memo {row.creditmemo_increment_id} is for John Lewis order {row.order_id}, which does not "
                  "exist on the marketplace (it was never imported by marketbridge). Nothing was sent.")
            return {"status": row.status, "order_id": row.order_id}
        links = skus.all_links(session)
        plan = rules.plan_refund(domain_memo, market_order_from(market, runtime.settings.order_tax_mode.value, links),
                                 refund_rules(runtime.settings))
        reasons = _valid_reasons(session)
        if plan.lines and reasons:
            code = plan.lines[0].reason_code
            reason = reasons.get(code)
            if reason is None or not reason.is_shop_right:
                plan.problems.append(rules.Problem(
                    rules.ProblemCode.REASON_INVALID,
                    f"The refund reason code {code} (from the reason mapping) is not a John Lewis refund reason the "
                    "shop may use; fix MARKETBRIDGE_REFUND_REASON_MAP or the default.",
                ))
        row.lines = [line.as_json() for line in plan.lines]
        row.tax_mode = plan.tax_mode.value
        row.total = rules.from_pence(plan.total)
        if not plan.ok:
            _hold(session, row, rules.problem_exception_type(plan.problems),
                  f"Credit memo {row.creditmemo_increment_id} (order {row.order_id}) was not sent to John Lewis: "
                  + " ".join(p.message for p in plan.problems),
                  detail="; ".join(f"{p.code.value}:{p.line_id or '-'}" for p in plan.problems))
            return {"status": row.status, "order_id": row.order_id, "problems": [p.message for p in plan.problems]}
        row.status, row.problem = PLANNED, ""
        _clear_all(session, row)
        return {"status": row.status, "order_id": row.order_id, "total": str(row.total)}


# ============================================================================ send (never doubled)
def _planned(row: RefundOut) -> list[rules.PlannedLine]:
    return [rules.PlannedLine.from_json(line) for line in row.lines or []]


def _ledger(session: Session, row: RefundOut, refunds: Iterable[tuple[str, rules.PlannedLine, Any]]) -> None:
    """Write refunds we created (or adopted) for ``row`` into ``marketplace_refunds``."""
    for refund_id, planned, created in refunds:
        existing = session.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == refund_id))
        if existing is None:
            session.add(MarketplaceRefund(
                refund_id=refund_id, order_id=row.order_id, order_line_id=planned.line_id, sku=planned.sku,
                origin="creditmemo", creditmemo_id=row.creditmemo_id, amount=rules.from_pence(planned.amount),
                shipping_amount=rules.from_pence(planned.shipping_amount), quantity=planned.quantity,
                reason_code=planned.reason_code, currency=row.currency, state="WAITING_REFUND",
                marketplace_created_at=created,
            ))
        else:
            existing.origin, existing.creditmemo_id = "creditmemo", row.creditmemo_id
        if refund_id not in row.refund_ids:
            row.refund_ids = [*row.refund_ids, refund_id]
    session.flush()


def _adopt_sent(runtime: Runtime, creditmemo_id: int) -> list[rules.PlannedLine]:
    """After an ambiguous attempt: adopt matching refunds already on the marketplace.

    Returns the planned lines that still have to be sent (all of them when nothing matched).
    """
    with runtime.db.session() as session:
        row = _row(session, creditmemo_id)
        planned = _planned(row)
        started = row.send_started_at
        order_id = row.order_id
    market = _read_order(runtime, order_id)
    if market is None:
        return planned
    order = market_order_from(market, runtime.settings.order_tax_mode.value)
    skew = dt.timedelta(seconds=runtime.settings.refund_match_skew_seconds)
    not_before = started - skew if started else None
    with runtime.db.session() as session:
        row = _row(session, creditmemo_id)
        known = _known_refund_ids(session)
        adopted, remaining = [], []
        for line in planned:
            mline = order.line(line.line_id)
            found = rules.matching_refunds(mline, line, known_ids=known, not_before=not_before) if mline else []
            if found:
                refund = found[0]
                known.add(refund.refund_id)
                adopted.append((refund.refund_id, line, refund.created))
            else:
                remaining.append(line)
        if adopted:
            _ledger(session, row, adopted)
            log.warning("refunds.adopted_after_ambiguous_send", creditmemo_id=creditmemo_id,
                        refund_ids=[a[0] for a in adopted])
        if not remaining:
            row.status, row.sent_at = SENT, row.sent_at or utcnow()
        return remaining


def _plain_refusal(error: RemoteError, row: RefundOut) -> str:
    text = error.message or str(error)
    low = text.lower()
    if "closed" in low:
        why = "the order is closed: the refund must be made through John Lewis"
    elif "exceeds the remaining" in low:
        why = "the refund is more than what remains refundable on the line (it may already have been refunded)"
    elif "reason code" in low:
        why = "the refund reason code is not accepted by John Lewis (check the reason mapping)"
    elif "cannot be refunded" in low or "state" in low:
        why = "the order line is not in a state that can be refunded"
    else:
        why = "the marketplace refused it"
    return (f"John Lewis refused the refund for credit memo {row.creditmemo_increment_id} (order {row.order_id}): "
            f"{why}. The marketplace said: {text}")


def send(runtime: Runtime, creditmemo_id: int) -> dict[str, Any]:
    """Send the planned OR28 once; safe to call again after any failure (see the module doc).

    Returns ``{"status": "sent"|..., "refund_ids": [...]}`` or ``{"status": "retry", "error": ...}``
    when the outcome is unknown or the marketplace is unavailable (call again later).
    """
    with runtime.db.session() as session:
        row = _row(session, creditmemo_id)
        status, seen_attempts = row.status, row.attempts  # the claim below is against what we saw here
        if status in (*DONE_STATUSES, HELD, NEW):
            return {"status": status, "refund_ids": list(row.refund_ids)}
        in_flight_until = (row.send_started_at or utcnow()) + dt.timedelta(
            seconds=runtime.settings.mirakl_timeout_seconds + 5)
        if status == SENDING and row.in_flight and utcnow() < in_flight_until:
            # another attempt's call may still be out: wait for it rather than race it
            return {"status": "retry", "error": "an earlier send attempt may still be waiting for its answer"}
    to_send = _planned(row)
    if status == SENDING:
        try:
            to_send = _adopt_sent(runtime, creditmemo_id)
        except RemoteError as error:
            return {"status": "retry", "error": str(error)}
        if not to_send:
            with runtime.db.session() as session:
                row = _row(session, creditmemo_id)
                _clear_all(session, row)
                return {"status": row.status, "refund_ids": list(row.refund_ids)}
    with runtime.db.session() as session:
        claimed = session.execute(
            update(RefundOut)
            .where(RefundOut.creditmemo_id == creditmemo_id, RefundOut.attempts == seen_attempts,
                   RefundOut.status.in_((PLANNED, SENDING)))
            .values(status=SENDING, send_started_at=utcnow(), attempts=seen_attempts + 1, in_flight=True,
                    updated_at=utcnow())
        ).rowcount
        if claimed != 1:  # another worker claimed it after we looked: its attempt decides
            return {"status": "retry", "error": "another worker is sending this credit memo"}
        row = _row(session, creditmemo_id)
        currency = row.currency if row.currency and row.currency != runtime.settings.currency else None
        order_id, tax_mode = row.order_id, row.tax_mode or runtime.settings.order_tax_mode.value
    from marketbridge.adapters.mirakl import models as mk

    request = mk.RefundRequest.model_validate({
        "order_tax_mode": tax_mode,
        "refunds": [line.wire(currency) for line in to_send],
    })
    try:
        response = runtime.mirakl.refund(request)
    except Exception as error:
        _answered(runtime, creditmemo_id)
        return _after_failed_send(runtime, creditmemo_id, order_id, error)
    by_line = {line.line_id: line for line in to_send}
    with runtime.db.session() as session:
        row = _row(session, creditmemo_id)
        created = [(r.refund_id, by_line.get(r.order_line_id) or rules.PlannedLine(r.order_line_id, ""), None)
                   for r in response.refunds]
        _ledger(session, row, created)
        row.status, row.sent_at, row.in_flight = SENT, utcnow(), False
        _clear_all(session, row)
        log.info("refunds.sent", creditmemo_id=creditmemo_id, order_id=order_id, refund_ids=row.refund_ids)
        return {"status": row.status, "refund_ids": list(row.refund_ids)}


def _answered(runtime: Runtime, creditmemo_id: int) -> None:
    with runtime.db.session() as session:
        _row(session, creditmemo_id).in_flight = False


def _after_failed_send(runtime: Runtime, creditmemo_id: int, order_id: str, error: Exception) -> dict[str, Any]:
    """The OR28 call failed: decide by the error's kind (the module doc explains why)."""
    if isinstance(error, RateLimited):  # not processed: back to planned, try later
        with runtime.db.session() as session:
            row = _row(session, creditmemo_id)
            row.status = PLANNED
        return {"status": "retry", "error": str(error), "retry_after": error.retry_after}
    if isinstance(error, ServerError | NetworkError):  # may or may not have happened: stay 'sending'
        log.warning("refunds.send_ambiguous", creditmemo_id=creditmemo_id, order_id=order_id, error=str(error))
        return {"status": "retry", "error": str(error)}
    if isinstance(error, Rejected | NotFound):
        with runtime.db.session() as session:
            row = _row(session, creditmemo_id)
            _hold(session, row, rules.REFUND_REFUSED, _plain_refusal(error, row), detail=str(error))
            return {"status": row.status, "refund_ids": list(row.refund_ids)}
    raise error  # a bug or a configuration error: let the step fail loudly


def process(runtime: Runtime, creditmemo_id: int, *, replan: bool = False) -> dict[str, Any]:
    """prepare + send in one go (CLI and tests; the workflow calls them as separate steps)."""
    prepared = prepare(runtime, creditmemo_id, replan=replan)
    if prepared["status"] not in (PLANNED, SENDING):
        return prepared
    return send(runtime, creditmemo_id)


# ============================================================================ polling Magento
def _cursor(session: Session, name: str) -> StreamCursor | None:
    return session.get(StreamCursor, name)


def poll_creditmemos(runtime: Runtime, *, limit: int = 500) -> list[int]:
    """Record credit memos created since the cursor (entity id); returns the new ids.

    First run: memos created within ``refund_backfill_hours`` are taken, older ones are not
    (they predate marketbridge and may have been refunded by hand).
    """
    with runtime.db.session() as session:
        cursor = _cursor(session, CURSOR_CREDITMEMOS)
        after = int(cursor.value) if cursor is not None else None
    if after is None:
        since = utcnow() - dt.timedelta(hours=runtime.settings.refund_backfill_hours)
        memos = runtime.magento.iterate_creditmemos(created_since=since.strftime("%Y-%m-%d %H:%M:%S"))
    else:
        memos = runtime.magento.iterate_creditmemos(after_entity_id=after)
    new_ids: list[int] = []
    highest = after or 0
    for count, memo in enumerate(memos):
        if count >= limit:
            break
        if record_creditmemo(runtime, memo.entity_id, source="poll"):
            new_ids.append(memo.entity_id)
        highest = max(highest, memo.entity_id)
    with runtime.db.session() as session:
        cursor = _cursor(session, CURSOR_CREDITMEMOS)
        if cursor is None:
            session.add(StreamCursor(name=CURSOR_CREDITMEMOS, value=str(highest)))
        elif highest > int(cursor.value):
            cursor.value = str(highest)
    return new_ids


def workflow_id(creditmemo_id: int, workflow_round: int) -> str:
    """``creditmemo:<id>`` (then ``creditmemo:<id>:r<n>`` for a restart after a stall)."""
    return f"creditmemo:{creditmemo_id}" if workflow_round == 0 else f"creditmemo:{creditmemo_id}:r{workflow_round}"


def pending_creditmemos(runtime: Runtime) -> list[dict[str, Any]]:
    """Memos not finished yet (new, planned, sending) with the workflow id that should run them.

    A memo untouched for ``refund_stall_minutes`` gets a new round (its earlier workflow ended
    without finishing it, e.g. Magento was down); otherwise the current round's id is returned,
    which collapses onto the workflow already running.
    """
    stall = utcnow() - dt.timedelta(minutes=runtime.settings.refund_stall_minutes)
    out = []
    with runtime.db.session() as session:
        rows = session.scalars(select(RefundOut).where(RefundOut.status.in_((NEW, PLANNED, SENDING)))).all()
        for r in rows:
            if r.updated_at <= stall:
                r.workflow_round += 1
            out.append({"creditmemo_id": r.creditmemo_id, "status": r.status,
                        "workflow_id": workflow_id(r.creditmemo_id, r.workflow_round)})
    return out


def report_delayed(runtime: Runtime, creditmemo_id: int, error: str) -> None:
    """The send kept failing with an unknown outcome or an unavailable marketplace."""
    with runtime.db.session() as session:
        row = _row(session, creditmemo_id)
        exception_service.record(session, ExceptionReport(
            type=rules.REFUND_DELAYED, object_id=_object_id(row),
            message=f"The refund for credit memo {row.creditmemo_increment_id} (order {row.order_id}) could not be "
            f"sent to John Lewis after {row.attempts} attempts; marketbridge keeps trying.",
            detail=error[:2000], context={"creditmemo_id": creditmemo_id},
        ))


# ============================================================================ webhooks
def creditmemo_id_from_event(payload: Any) -> int | None:
    """The credit memo entity id from a Commerce webhook (``data.creditmemo``) or an I/O event
    (``event.data.value.creditmemo`` or ``data.value``); None when absent."""
    if not isinstance(payload, dict):
        return None
    candidates: list[Any] = []
    data = payload.get("data")
    if isinstance(data, dict):
        candidates += [data.get("creditmemo"), (data.get("value") or {}).get("creditmemo") if isinstance(
            data.get("value"), dict) else None, data.get("value"), data]
    event = payload.get("event")
    if isinstance(event, dict) and isinstance(event.get("data"), dict):
        value = event["data"].get("value")
        if isinstance(value, dict):
            candidates += [value.get("creditmemo"), value]
    for candidate in candidates:
        if isinstance(candidate, dict):
            raw = candidate.get("entity_id")
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.isdigit():
                return int(raw)
    return None


def on_creditmemo_event(session: Session, event_name: str, data: dict) -> None:
    """Webhook handler (``observer.sales_order_creditmemo_save_after``, added by bootstrap): store
    the memo id, in the dispatcher's transaction. The refunds poll schedule starts its workflow."""
    memo_id = creditmemo_id_from_event({"data": data})
    if memo_id is None:
        log.warning("refunds.webhook_without_id", event_name=event_name)
        return
    if session.scalar(select(RefundOut.id).where(RefundOut.creditmemo_id == memo_id)) is None:
        session.add(RefundOut(creditmemo_id=memo_id, status=NEW, source="webhook"))
        session.flush()


# ============================================================================ follow the marketplace
def _pending_order_ids(session: Session) -> list[str]:
    ours = session.scalars(select(RefundOut.order_id).where(RefundOut.status == SENT)).all()
    waiting = session.scalars(select(MarketplaceRefund.order_id).where(MarketplaceRefund.state != "REFUNDED")).all()
    return sorted({o for o in [*ours, *waiting] if o})


def _money_line(amount: Decimal, shipping: Decimal, currency: str) -> str:
    text = rules.fmt_money(amount, currency or "GBP")
    if shipping:
        text += f" and {rules.fmt_money(shipping, currency or 'GBP')} delivery"
    return text


def observe_orders(runtime: Runtime, orders: Iterable[mk.Order]) -> dict[str, int]:
    """Update our ledger from marketplace orders as read (OR11): follow states, record foreign refunds."""
    counts = {"updated": 0, "foreign": 0, "completed": 0}
    alert_after = dt.timedelta(hours=runtime.settings.refund_completion_alert_hours)
    with runtime.db.session() as session:
        for order in orders:
            sending = session.scalar(select(RefundOut.id).where(RefundOut.order_id == order.order_id,
                                                                RefundOut.status.in_((SENDING, PLANNED))))
            for line in order.order_lines:
                for refund in line.refunds:
                    state = refund.refund_state or refund.state or "WAITING_REFUND"
                    row = session.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == refund.id))
                    if row is not None:
                        if row.state != state:
                            row.state = state
                            counts["updated"] += 1
                        if row.marketplace_created_at is None:
                            row.marketplace_created_at = refund.created_date
                        continue
                    if sending is not None:
                        continue  # could be ours after an ambiguous send: the send step decides
                    _record_foreign(session, order, line, refund.id, _dec(refund.amount), _dec(refund.shipping_amount),
                                    refund.quantity or 0, refund.reason_code or "", state, refund.created_date,
                                    origin="marketplace")
                    counts["foreign"] += 1
                if order.customer_debited_date is not None:
                    for cancel in line.cancelations:
                        key = f"C{cancel.id}"
                        if session.scalar(select(MarketplaceRefund.id).where(MarketplaceRefund.refund_id == key)):
                            continue
                        _record_foreign(session, order, line, key, _dec(cancel.amount), _dec(cancel.shipping_amount),
                                        cancel.quantity or 0, cancel.reason_code or "", "REFUNDED", cancel.created_date,
                                        origin="cancelation")
                        counts["foreign"] += 1
            if order.fully_refunded:
                _mark_order_refunded(session, runtime, order.order_id)
        session.flush()
        # our memos whose refunds are all REFUNDED; alert on slow ones
        for row in session.scalars(select(RefundOut).where(RefundOut.status == SENT)).all():
            states = session.scalars(select(MarketplaceRefund.state).where(
                MarketplaceRefund.refund_id.in_(row.refund_ids or ["-"]))).all()
            if states and all(s == "REFUNDED" for s in states):
                row.status, row.refunded_at = REFUNDED, utcnow()
                exception_service.clear(session, rules.REFUND_NOT_COMPLETED, _object_id(row))
                counts["completed"] += 1
            elif row.sent_at and utcnow() - row.sent_at > alert_after:
                exception_service.record(session, ExceptionReport(
                    type=rules.REFUND_NOT_COMPLETED, object_id=_object_id(row),
                    message=f"The refund for credit memo {row.creditmemo_increment_id} (order {row.order_id}) was sent to "
                    f"John Lewis on {row.sent_at:%d %b %Y} and has still not been paid to the customer.",
                    context={"refund_ids": list(row.refund_ids)},
                ))
    return counts


def _mark_order_refunded(session: Session, runtime: Runtime, order_id: str) -> None:
    """Move our order record (orders flow) to ``refunded`` once the marketplace says the order is
    fully refunded; a transition the order state machine does not allow is skipped by it."""
    from marketbridge.services import orders as order_service

    try:
        order_service.record_transition(session, order_id, "refunded", actor="refunds",
                                        connection=runtime.settings.order_connection, source="marketplace fully_refunded")
    except LookupError:
        pass  # an order the orders flow does not hold (imported before marketbridge, or by hand)


def _record_foreign(session: Session, order: mk.Order, line: mk.OrderLine, refund_id: str, amount: Decimal,
                    shipping: Decimal, quantity: int, reason: str, state: str, created: dt.datetime | None,
                    *, origin: str) -> None:
    session.add(MarketplaceRefund(
        refund_id=refund_id, order_id=order.order_id, order_line_id=line.order_line_id, sku=line.offer_sku,
        origin=origin, amount=amount, shipping_amount=shipping, quantity=quantity, reason_code=reason,
        currency=order.currency_iso_code, state=state, marketplace_created_at=created,
    ))
    what = "cancelled" if origin == "cancelation" else "refunded"
    exception_service.record(session, ExceptionReport(
        type=rules.MARKETPLACE_REFUND, object_id=f"refund:{refund_id}",
        message=f"John Lewis {what} {_money_line(amount, shipping, order.currency_iso_code)} on line "
        f"{line.order_line_id} ({line.offer_sku}) of order {order.order_id}"
        + (f" (reason {reason})" if reason else "") + " without a credit memo from us.",
        context={"refund_id": refund_id, "order_id": order.order_id, "order_line_id": line.order_line_id},
    ))


def follow(runtime: Runtime) -> dict[str, int]:
    """One pass: re-read orders with refunds not yet REFUNDED, then orders updated since the cursor."""
    with runtime.db.session() as session:
        pending = _pending_order_ids(session)
        cursor = _cursor(session, CURSOR_MARKETPLACE_REFUNDS)
        since = _parse_time(cursor.value) if cursor is not None else None
    totals = {"updated": 0, "foreign": 0, "completed": 0, "orders": 0}

    def add(counts: dict[str, int], n: int) -> None:
        for key, value in counts.items():
            totals[key] += value
        totals["orders"] += n

    for start in range(0, len(pending), 100):
        batch = list(runtime.mirakl.list_orders(order_ids=pending[start:start + 100]))
        add(observe_orders(runtime, batch), len(batch))
    started = utcnow()
    if since is None:
        since = started - dt.timedelta(hours=runtime.settings.refund_backfill_hours)
    overlap = dt.timedelta(seconds=runtime.settings.order_poll_overlap_seconds)
    updated = list(runtime.mirakl.list_orders(start_update_date=since - overlap))
    add(observe_orders(runtime, updated), len(updated))
    newest = max((o.last_updated_date for o in updated), default=None)
    with runtime.db.session() as session:
        value = (newest or since).astimezone(dt.UTC).isoformat()
        cursor = _cursor(session, CURSOR_MARKETPLACE_REFUNDS)
        if cursor is None:
            session.add(StreamCursor(name=CURSOR_MARKETPLACE_REFUNDS, value=value))
        elif newest is not None and (_parse_time(cursor.value) or newest) <= newest:
            cursor.value = value
    return totals


# ============================================================================ mirror in Magento
def mirror_marketplace_refund(runtime: Runtime, refund_id: str, *, actor: str = "system") -> dict[str, Any]:
    """Create the Adobe Commerce credit memo matching a refund that started on the marketplace.

    The memo's comment carries :data:`MIRROR_MARKER` so it is never sent back as a refund; an
    existing memo with that marker is reused, so pressing the button twice creates one memo.
    """
    with runtime.db.session() as session:
        row = session.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == refund_id))
        if row is None:
            raise RefundActionError(f"There is no marketplace refund {refund_id}.")
        if row.origin == "creditmemo":
            raise RefundActionError(f"Refund {refund_id} came from credit memo {row.creditmemo_id}; it already has one.")
        if row.creditmemo_id is not None:
            return {"refund_id": refund_id, "creditmemo_id": row.creditmemo_id, "created": False}
        order_id, sku = row.order_id, skus.magento_sku_for(session, row.sku)
        amount, shipping, quantity = row.amount, row.shipping_amount, row.quantity
    order = runtime.magento.find_order_by_ext_id(order_id)
    if order is None:
        raise RefundActionError(f"No Adobe Commerce order carries marketplace order {order_id}, so there is nothing "
                                "to attach a credit memo to.")
    marker = f"{MIRROR_MARKER} {refund_id}"
    for memo in runtime.magento.iterate_creditmemos(order_id=order.entity_id):
        if any(marker == (c.comment or "").strip() or marker + " " in (c.comment or "") + " " for c in memo.comments):
            return _link_mirror(runtime, refund_id, memo.entity_id, actor, created=False)
    from marketbridge.adapters.magento import models as mg

    item = next((i for i in order.top_level_items() if i.sku == sku), None)
    items: list[mg.DocumentItemInput] = []
    goods = Decimal(0)
    if item is not None and amount > 0:
        left = int(item.qty_invoiced - item.qty_refunded) if item.qty_invoiced else int(item.qty_ordered - item.qty_refunded)
        unit = _dec(getattr(item, "price_incl_tax", None) or item.price)
        qty = quantity or (int((amount / unit).to_integral_value()) if unit else 0)
        qty = max(1, min(qty, left)) if left > 0 else 0
        if qty:
            items.append(mg.DocumentItemInput(order_item_id=item.item_id, qty=qty))
            goods = unit * qty
    if not items:
        raise RefundActionError(f"Adobe Commerce order {order.increment_id} has no refundable {sku} left, so the "
                                "refund cannot be mirrored by a credit memo; record it by hand.")
    difference = amount - goods
    try:
        memo_id = runtime.magento.refund_order(
            order.entity_id, items, shipping_amount=wire_number(shipping),  # Adobe Commerce reads JSON numbers
            adjustment_positive=wire_number(max(difference, Decimal(0))),
            adjustment_negative=wire_number(max(-difference, Decimal(0))),
            comment=marker,
        )
    except Rejected as error:
        raise RefundActionError(f"Adobe Commerce refused the credit memo: {error.message}") from None
    return _link_mirror(runtime, refund_id, memo_id, actor, created=True)


def _link_mirror(runtime: Runtime, refund_id: str, memo_id: int, actor: str, *, created: bool) -> dict[str, Any]:
    record_creditmemo(runtime, memo_id, source="mirror")
    with runtime.db.session() as session:
        row = session.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == refund_id))
        assert row is not None
        row.creditmemo_id = memo_id
        out = _row(session, memo_id)
        if out.status == NEW:
            out.status, out.problem, out.order_id = IGNORED, f"mirrors marketplace refund {refund_id}: nothing to send", row.order_id
        exception_service.clear(session, rules.MARKETPLACE_REFUND, f"refund:{refund_id}", by=actor)
        exception_service.audit(session, actor, "refunds.mirror", "refund", refund_id, creditmemo_id=memo_id)
    return {"refund_id": refund_id, "creditmemo_id": memo_id, "created": created}


# ============================================================================ reasons (RE01)
def refresh_reasons(runtime: Runtime) -> int:
    """Cache the RE01 list (Mirakl allows it once a day)."""
    reasons = runtime.mirakl.reasons()
    now = utcnow()
    with runtime.db.session() as session:
        for reason in reasons:
            row = session.get(RefundReason, reason.code)
            if row is None:
                session.add(RefundReason(code=reason.code, label=reason.label, type=reason.type,
                                         is_shop_right=reason.is_shop_right, fetched_at=now))
            else:
                row.label, row.type, row.is_shop_right, row.fetched_at = reason.label, reason.type, reason.is_shop_right, now
    return len(reasons)


def reason_table(runtime: Runtime) -> dict[str, Any]:
    """The mapping in use, each code checked against the cached RE01 list."""
    with runtime.db.session() as session:
        known = _valid_reasons(session)
        cached = [{"code": r.code, "label": r.label, "is_shop_right": r.is_shop_right} for r in known.values()]

    def check(code: str) -> str:
        if not known:
            return "unchecked (run `marketbridge refunds reasons --refresh`)"
        reason = known.get(code)
        if reason is None:
            return "not a John Lewis refund reason"
        return "ok" if reason.is_shop_right else "operator only: the shop may not use it"

    settings = runtime.settings
    return {
        "mapping": [{"keyword": k, "code": v, "label": known[v].label if v in known else "", "check": check(v)}
                    for k, v in settings.refund_reason_map.items()],
        "default": {"code": settings.refund_reason_default, "check": check(settings.refund_reason_default)},
        "marketplace_reasons": sorted(cached, key=lambda r: r["code"]),
    }


# ============================================================================ reading
def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def refund_out_dict(row: RefundOut) -> dict[str, Any]:
    return {
        "creditmemo_id": row.creditmemo_id, "creditmemo_increment_id": row.creditmemo_increment_id,
        "magento_order_id": row.magento_order_id, "order_id": row.order_id, "status": row.status,
        "source": row.source, "currency": row.currency, "tax_mode": row.tax_mode, "total": str(row.total),
        "memo_total": str(row.memo_total),
        "lines": [{**line, "amount": str(rules.from_pence(int(line["item_amount"]) + int(line["adjustment"]))),
                   "shipping": str(rules.from_pence(int(line["shipping_amount"])))} for line in row.lines or []],
        "refund_ids": list(row.refund_ids or []), "problem": row.problem, "attempts": row.attempts,
        "sent_at": _iso(row.sent_at), "refunded_at": _iso(row.refunded_at), "created_at": _iso(row.created_at),
    }


def marketplace_refund_dict(row: MarketplaceRefund) -> dict[str, Any]:
    return {
        "refund_id": row.refund_id, "order_id": row.order_id, "order_line_id": row.order_line_id, "sku": row.sku,
        "origin": row.origin, "creditmemo_id": row.creditmemo_id, "amount": str(row.amount),
        "shipping_amount": str(row.shipping_amount), "quantity": row.quantity, "reason_code": row.reason_code,
        "currency": row.currency, "state": row.state, "marketplace_created_at": _iso(row.marketplace_created_at),
        "first_seen": _iso(row.first_seen),
    }


def list_refunds(session: Session, *, status: str | None = None, order_id: str | None = None,
                 limit: int = 200) -> list[dict[str, Any]]:
    query = select(RefundOut).order_by(RefundOut.id.desc()).limit(limit)
    if status:
        query = query.where(RefundOut.status == status)
    if order_id:
        query = query.where(RefundOut.order_id == order_id)
    return [refund_out_dict(r) for r in session.scalars(query).all()]


def list_marketplace_refunds(session: Session, *, origin: str | None = None, order_id: str | None = None,
                             limit: int = 200) -> list[dict[str, Any]]:
    query = select(MarketplaceRefund).order_by(MarketplaceRefund.id.desc()).limit(limit)
    if origin:
        query = query.where(MarketplaceRefund.origin == origin)
    if order_id:
        query = query.where(MarketplaceRefund.order_id == order_id)
    return [marketplace_refund_dict(r) for r in session.scalars(query).all()]


def show(session: Session, key: str) -> dict[str, Any] | None:
    """A credit memo (entity id or increment id) with its marketplace refunds, or a refund id."""
    row = None
    if key.isdigit():
        row = session.scalar(select(RefundOut).where(RefundOut.creditmemo_id == int(key)))
    if row is None:
        row = session.scalar(select(RefundOut).where(RefundOut.creditmemo_increment_id == key))
    if row is not None:
        refunds = session.scalars(select(MarketplaceRefund).where(MarketplaceRefund.creditmemo_id == row.creditmemo_id)).all()
        return {**refund_out_dict(row), "marketplace_refunds": [marketplace_refund_dict(r) for r in refunds]}
    refund = session.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == key))
    return None if refund is None else {"marketplace_refund": marketplace_refund_dict(refund)}


def request_retry(runtime: Runtime, key: str, *, actor: str) -> dict[str, Any]:
    """A person fixed the cause of a held memo: plan it again (as a new workflow round). Audited."""
    with runtime.db.session() as session:
        row = None
        if key.isdigit():
            row = session.scalar(select(RefundOut).where(RefundOut.creditmemo_id == int(key)))
        if row is None:
            row = session.scalar(select(RefundOut).where(RefundOut.creditmemo_increment_id == key))
        if row is None:
            raise LookupError(f"no credit memo {key}")
        if row.status != HELD:
            raise RefundActionError(f"Credit memo {row.creditmemo_increment_id or row.creditmemo_id} is {row.status}; "
                                    "only a held credit memo can be retried.")
        row.status, row.workflow_round = NEW, row.workflow_round + 1
        exception_service.audit(session, actor, "refunds.retry", "refund", _object_id(row))
        return {"creditmemo_id": row.creditmemo_id, "workflow_id": workflow_id(row.creditmemo_id, row.workflow_round)}
