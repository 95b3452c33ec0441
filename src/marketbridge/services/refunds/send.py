"""Step 3 of the refunds flow: send OR28 once, **never doubled**.

The row goes to ``sending`` (with the attempt time) *before* the call. If the answer is lost
(time-out, 5xx, crash), the next attempt first re-reads the order and adopts refunds that match
what we meant to send (same line, amount, shipping and reason, created after the attempt minus a
clock margin, and not already in our ledger ``marketplace_refunds``) instead of sending again. A
429 is retried by the client after exactly ``Retry-After`` seconds (Mirakl did not process the
call). A refusal (4xx) holds the memo for finance with the marketplace's reason in plain English.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import (
    NetworkError,
    NotFound,
    RateLimited,
    Rejected,
    RemoteError,
    ServerError,
)
from marketbridge.domain import refunds as refunds_domain
from marketbridge.services.refunds.conversions import (
    _read_order,
    market_order_from,
)
from marketbridge.services.refunds.prepare import prepare
from marketbridge.services.refunds.recording import (
    _clear_all,
    _hold,
)
from marketbridge.services.refunds.results import MemoOutcome
from marketbridge.services.refunds.states import (
    DONE_STATUSES,
    HELD,
    NEW,
    PLANNED,
    SENDING,
    SENT,
)

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.refunds import RefundOut
    from marketbridge.ports import RefundsRepository
    from marketbridge.runtime import Runtime

log = structlog.get_logger(__name__)


def _planned(row: RefundOut) -> list[refunds_domain.PlannedLine]:
    return [refunds_domain.PlannedLine.from_json(line) for line in row.lines or []]


def _ledger(repo: RefundsRepository, row: RefundOut,
            refunds: Iterable[tuple[str, refunds_domain.PlannedLine, Any]]) -> None:
    """Write refunds we created (or adopted) for ``row`` into ``marketplace_refunds``."""
    for refund_id, planned, created in refunds:
        existing = repo.marketplace_refund(refund_id)
        if existing is None:
            repo.add_marketplace_refund(
                refund_id=refund_id, order_id=row.order_id, order_line_id=planned.line_id, sku=planned.sku,
                origin="creditmemo", creditmemo_id=row.creditmemo_id, amount=refunds_domain.from_pence(planned.amount),
                shipping_amount=refunds_domain.from_pence(planned.shipping_amount), quantity=planned.quantity,
                reason_code=planned.reason_code, currency=row.currency, state="WAITING_REFUND",
                marketplace_created_at=created,
            )
        else:
            existing.origin, existing.creditmemo_id = "creditmemo", row.creditmemo_id
        if refund_id not in row.refund_ids:
            row.refund_ids = [*row.refund_ids, refund_id]


def _adopt_sent(runtime: Runtime, creditmemo_id: int) -> list[refunds_domain.PlannedLine]:
    """After an ambiguous attempt: adopt matching refunds already on the marketplace.

    Returns the planned lines that still have to be sent (all of them when nothing matched).
    """
    store = runtime.refunds_store
    with store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id)
        planned = _planned(row)
        started = row.send_started_at
        order_id = row.order_id
    market = _read_order(runtime, order_id)
    if market is None:
        return planned
    order = market_order_from(market, runtime.settings.order_tax_mode.value)
    skew = dt.timedelta(seconds=runtime.settings.refund_match_skew_seconds)
    not_before = started - skew if started else None
    with store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id)
        known = repo.known_refund_ids()
        adopted, remaining = [], []
        for line in planned:
            mline = order.line(line.line_id)
            found = refunds_domain.matching_refunds(mline, line, known_ids=known, not_before=not_before) if mline else []
            if found:
                refund = found[0]
                known.add(refund.refund_id)
                adopted.append((refund.refund_id, line, refund.created))
            else:
                remaining.append(line)
        if adopted:
            _ledger(repo, row, adopted)
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


def send(runtime: Runtime, creditmemo_id: int) -> MemoOutcome:
    """Send the planned OR28 once; safe to call again after any failure (see the module doc).

    Returns a :class:`MemoOutcome` with the status (``sent``...) and ``refund_ids``, or status
    ``retry`` with ``error`` when the outcome is unknown or the marketplace is unavailable (call
    again later).
    """
    store = runtime.refunds_store
    with store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id)
        status, seen_attempts = row.status, row.attempts  # the claim below is against what we saw here
        if status in (*DONE_STATUSES, HELD, NEW):
            return MemoOutcome(status, refund_ids=tuple(row.refund_ids))
        in_flight_until = (row.send_started_at or utcnow()) + dt.timedelta(
            seconds=runtime.settings.mirakl_timeout_seconds + 5)
        if status == SENDING and row.in_flight and utcnow() < in_flight_until:
            # another attempt's call may still be out: wait for it rather than race it
            return MemoOutcome("retry", error="an earlier send attempt may still be waiting for its answer")
    to_send = _planned(row)
    if status == SENDING:
        try:
            to_send = _adopt_sent(runtime, creditmemo_id)
        except RemoteError as error:
            return MemoOutcome("retry", error=str(error))
        if not to_send:
            with store.unit_of_work() as repo:
                row = repo.memo(creditmemo_id)
                _clear_all(repo, row)
                return MemoOutcome(row.status, refund_ids=tuple(row.refund_ids))
    with store.unit_of_work() as repo:
        if not repo.claim_send(creditmemo_id, seen_attempts, (PLANNED, SENDING), status=SENDING):
            # another worker claimed it after we looked: its attempt decides
            return MemoOutcome("retry", error="another worker is sending this credit memo")
        row = repo.memo(creditmemo_id)
        currency = row.currency if row.currency and row.currency != runtime.settings.currency else None
        order_id, tax_mode = row.order_id, row.tax_mode or runtime.settings.order_tax_mode.value
    from marketbridge.adapters.mirakl import models as mirakl_models

    request = mirakl_models.RefundRequest.model_validate({
        "order_tax_mode": tax_mode,
        "refunds": [line.wire(currency) for line in to_send],
    })
    try:
        response = runtime.mirakl.refund(request)
    except Exception as error:
        _answered(runtime, creditmemo_id)
        return _after_failed_send(runtime, creditmemo_id, order_id, error)
    by_line = {line.line_id: line for line in to_send}
    with store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id)
        created = [(r.refund_id, by_line.get(r.order_line_id) or refunds_domain.PlannedLine(r.order_line_id, ""), None)
                   for r in response.refunds]
        _ledger(repo, row, created)
        row.status, row.sent_at, row.in_flight = SENT, utcnow(), False
        _clear_all(repo, row)
        log.info("refunds.sent", creditmemo_id=creditmemo_id, order_id=order_id, refund_ids=row.refund_ids)
        return MemoOutcome(row.status, refund_ids=tuple(row.refund_ids))


def _answered(runtime: Runtime, creditmemo_id: int) -> None:
    with runtime.refunds_store.unit_of_work() as repo:
        repo.memo(creditmemo_id).in_flight = False


def _after_failed_send(runtime: Runtime, creditmemo_id: int, order_id: str, error: Exception) -> MemoOutcome:
    """The OR28 call failed: decide by the error's kind (the module doc explains why)."""
    if isinstance(error, RateLimited):  # not processed: back to planned, try later
        log.info("refunds.deferred", creditmemo_id=creditmemo_id, order_id=order_id, api=error.api,
                 retry_after=error.retry_after)
        with runtime.refunds_store.unit_of_work() as repo:
            row = repo.memo(creditmemo_id)
            row.status = PLANNED
        return MemoOutcome("retry", error=str(error), retry_after=error.retry_after)
    if isinstance(error, ServerError | NetworkError):  # may or may not have happened: stay 'sending'
        log.warning("refunds.send_ambiguous", creditmemo_id=creditmemo_id, order_id=order_id, error=str(error))
        return MemoOutcome("retry", error=str(error))
    if isinstance(error, Rejected | NotFound):
        with runtime.refunds_store.unit_of_work() as repo:
            row = repo.memo(creditmemo_id)
            _hold(repo, row, refunds_domain.REFUND_REFUSED, _plain_refusal(error, row), detail=str(error))
            return MemoOutcome(row.status, refund_ids=tuple(row.refund_ids))
    raise error  # a bug or a configuration error: let the step fail loudly


def process(runtime: Runtime, creditmemo_id: int, *, replan: bool = False) -> MemoOutcome:
    """prepare + send in one go (CLI and tests; the workflow calls them as separate steps). A person
    asked for it now: planning reads the order live (OR11 by id), never waits for the order feed."""
    prepared = prepare(runtime, creditmemo_id, replan=replan, live=True)
    if prepared.status not in (PLANNED, SENDING):
        return prepared
    return send(runtime, creditmemo_id)
