"""Step 2 of the refunds flow: plan the OR28 lines of a credit memo, or hold it for finance.

:func:`prepare` reads the memo, its Adobe Commerce order (``ext_order_id`` = marketplace order id)
and the marketplace order (OR11 by ``order_ids``), and computes the OR28 lines with the pure rules
of :mod:`marketbridge.domain.refunds`. A problem holds the memo for finance with a plain-English
issue; nothing is sent. Memos that mirror a marketplace refund, memos of non-marketplace orders
and memos marketbridge made to cancel an order are ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import NotFound
from marketbridge.domain import refunds as refunds_domain
from marketbridge.services import orders as order_service
from marketbridge.services.refunds.conversions import (
    _dec,
    _parse_time,
    _read_order,
    _stored_order,
    market_order_from,
    memo_from_magento,
    refund_rules,
)
from marketbridge.services.refunds.follow import followed_orders
from marketbridge.services.refunds.recording import (
    _clear_all,
    _hold,
)
from marketbridge.services.refunds.results import MemoOutcome
from marketbridge.services.refunds.states import (
    _MIRROR_RE,
    DONE_STATUSES,
    HELD,
    IGNORED,
    PLANNED,
    SENDING,
    WAIT,
)

if TYPE_CHECKING:
    from marketbridge.adapters.mirakl import models as mirakl_models
    from marketbridge.ports.refunds import RefundsRepository
    from marketbridge.runtime import Runtime

#: The feed's read must have started this long after the memo was made (Adobe Commerce's clock
#: against ours): a read that began a moment before the memo may predate what the memo reflects.
FEED_CLOCK_MARGIN = dt.timedelta(seconds=5)


def prepare(runtime: Runtime, creditmemo_id: int, *, replan: bool = False, live: bool = False) -> MemoOutcome:
    """Read the memo and both orders, compute the OR28 lines or hold the memo for finance.

    Returns a :class:`MemoOutcome`. A memo already sending/sent/refunded/ignored is left alone; a held
    memo is planned again only with ``replan`` (a person pressed Retry). With the order feed on, the
    outcome may be ``WAIT`` (see :func:`_order_to_plan_on`); ``live`` reads OR11 by id instead (a
    person's explicit ``process``, or the workflow after waiting long enough). Storage is the flow's
    port (``runtime.refunds_store``): tests/unit/test_refunds_flow.py runs this on fakes.
    """
    store = runtime.refunds_store
    with store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id)
        if row.status in (SENDING, *DONE_STATUSES) or (row.status == HELD and not replan):
            return MemoOutcome(row.status, order_id=row.order_id)
    try:
        memo = runtime.magento.get_creditmemo(creditmemo_id)
    except NotFound:
        with store.unit_of_work() as repo:
            row = repo.memo(creditmemo_id, lock=True)
            if row.status not in (SENDING, *DONE_STATUSES):
                row.status, row.problem = IGNORED, "the credit memo no longer exists in Adobe Commerce"
            return MemoOutcome(row.status)
    order = runtime.magento.get_order(memo.order_id)
    domain_memo = memo_from_magento(memo, order)
    with store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id, lock=True)
        if row.status in (SENDING, *DONE_STATUSES):
            return MemoOutcome(row.status, order_id=row.order_id)
        row.creditmemo_increment_id = memo.increment_id or str(memo.entity_id)
        row.magento_order_id = memo.order_id
        row.currency = domain_memo.currency
        row.memo_total = _dec(memo.grand_total)
        row.memo_created_at = _parse_time(memo.created_at)
        mirrored = _MIRROR_RE.search(domain_memo.comment)
        if mirrored:
            row.status, row.problem = IGNORED, f"mirrors marketplace refund {mirrored.group(1)}: nothing to send"
            linked = repo.marketplace_refund(mirrored.group(1))
            if linked is not None and linked.creditmemo_id is None:
                linked.creditmemo_id = creditmemo_id
            return MemoOutcome(row.status)
        if not order.ext_order_id:
            row.status, row.problem = IGNORED, "not a marketplace order (no ext_order_id)"
            return MemoOutcome(row.status)
        if order_service.is_cancellation_memo(domain_memo.comment):
            # marketbridge made this memo itself to cancel an invoiced order that John Lewis
            # cancelled; John Lewis refunds its cancellations itself (found by the full soak).
            row.order_id = order.ext_order_id
            row.status, row.problem = IGNORED, "made by marketbridge to cancel the order: the marketplace refunds cancellations itself"
            return MemoOutcome(row.status)
        row.order_id = order.ext_order_id
    market, waiting = _order_to_plan_on(runtime, order.ext_order_id, domain_memo, memo.created_at, live=live)
    if waiting is not None:
        return MemoOutcome(WAIT, order_id=order.ext_order_id, retry_after=waiting)
    with store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id, lock=True)
        if row.status in (SENDING, *DONE_STATUSES):  # another worker got further meanwhile
            return MemoOutcome(row.status, order_id=row.order_id)
        if market is None:
            _hold(repo, row, refunds_domain.REFUND_ORDER_UNKNOWN,
                  f"Credit memo {row.creditmemo_increment_id} is for John Lewis order {row.order_id}, which does not "
                  "exist on the marketplace (it was never imported by marketbridge). Nothing was sent.")
            return MemoOutcome(row.status, order_id=row.order_id)
        plan = _plan(runtime, repo, domain_memo, market)
        row.lines = [line.as_json() for line in plan.lines]
        row.tax_mode = plan.tax_mode.value
        row.total = refunds_domain.from_pence(plan.total)
        if not plan.ok:
            _hold(repo, row, refunds_domain.problem_issue_type(plan.problems),
                  f"Credit memo {row.creditmemo_increment_id} (order {row.order_id}) was not sent to John Lewis: "
                  + " ".join(p.message for p in plan.problems),
                  detail="; ".join(f"{p.code.value}:{p.line_id or '-'}" for p in plan.problems))
            return MemoOutcome(row.status, order_id=row.order_id, problems=tuple(p.message for p in plan.problems))
        row.status, row.problem = PLANNED, ""
        _clear_all(repo, row)
        return MemoOutcome(row.status, order_id=row.order_id, total=str(row.total))


def _order_to_plan_on(runtime: Runtime, order_id: str, memo: refunds_domain.CreditMemo, memo_created_at: str | None,
                      *, live: bool) -> tuple[mirakl_models.Order | None, float | None]:
    """The marketplace order to plan the memo on, or how long to wait for it: ``(order, None)`` or
    ``(None, seconds)``.

    OR11 by id (``_read_order``) spends one of OR11's once-a-minute calls per memo: in the
    real-limit burst, planning took 7 of 12 reads in 11.6 minutes and the order feed waited behind
    them. So with the feed on, a memo is planned on the payload the orders flow stored from the
    feed, but only once the feed has read the marketplace since the memo was made
    (``FEED_CLOCK_MARGIN`` after it, for the two servers' clocks): a copy older than the memo
    showed a line still ``SHIPPING`` ten seconds after it shipped, and the full soak held that
    memo as "cancel, not refund". Until then: wait for the feed's next read.

    A plan the stored copy would hold is decided on a live read instead: the copy may predate our
    own shipment confirmation (OR24, sent after the feed's read), and a person should only ever
    see a hold the marketplace confirms. A refund Mirakl made between the feed's read and now is
    not in the copy; Mirakl's own cap refuses an OR28 that would exceed a line, which holds the
    memo for a person (never pays twice). The re-check after an OR28 whose answer was lost reads
    OR11 too (``send``): it must see our own refund. A feed that never read, or is overdue with
    nobody reading (its schedule off or stuck), is not waited for: the memo is planned live."""
    source = followed_orders(runtime)
    if live or source.reads_live:
        return _read_order(runtime, order_id), None
    created = _parse_time(memo_created_at)
    if created is None:  # nothing to compare the feed's read with: the stricter way
        return _read_order(runtime, order_id), None
    if not source.read_since(created + FEED_CLOCK_MARGIN):
        wait = source.next_read_in(utcnow())
        if wait is None:  # no read is coming (the feed's schedule is off or stuck): plan on a live read
            return _read_order(runtime, order_id), None
        return None, round(wait, 1)
    stored = _stored_order(runtime, order_id)
    if stored is not None:
        with runtime.refunds_store.unit_of_work() as repo:
            if _plan(runtime, repo, memo, stored).ok:
                return stored, None
    return _read_order(runtime, order_id), None


def _plan(runtime: Runtime, repo: RefundsRepository, memo: refunds_domain.CreditMemo,
          market: mirakl_models.Order) -> refunds_domain.RefundPlan:
    """The OR28 lines of ``memo`` on ``market`` by the pure rules, plus the reason code's check
    against the cached RE01 reasons (a problem when the mapping names a code the shop may not use)."""
    links = repo.skus.all_links()
    plan = refunds_domain.plan_refund(memo, market_order_from(market, runtime.settings.order_tax_mode.value, links),
                                      refund_rules(runtime.settings))
    reasons = repo.valid_reasons()
    if plan.lines and reasons:
        code = plan.lines[0].reason_code
        reason = reasons.get(code)
        if reason is None or not reason.is_shop_right:
            plan.problems.append(refunds_domain.Problem(
                refunds_domain.ProblemCode.REASON_INVALID,
                f"The refund reason code {code} (from the reason mapping) is not a John Lewis refund reason the "
                "shop may use; fix MARKETBRIDGE_REFUND_REASON_MAP or the default.",
            ))
    return plan
