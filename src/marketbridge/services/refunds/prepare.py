"""Step 2 of the refunds flow: plan the OR28 lines of a credit memo, or hold it for finance.

:func:`prepare` reads the memo, its Adobe Commerce order (``ext_order_id`` = marketplace order id)
and the marketplace order (OR11 by ``order_ids``), and computes the OR28 lines with the pure rules
of :mod:`marketbridge.domain.refunds`. A problem holds the memo for finance with a plain-English
issue; nothing is sent. Memos that mirror a marketplace refund, memos of non-marketplace orders
and memos marketbridge made to cancel an order are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marketbridge.adapters.errors import NotFound
from marketbridge.domain import refunds as refunds_domain
from marketbridge.services import orders as order_service
from marketbridge.services.refunds.conversions import (
    _dec,
    _parse_time,
    _read_order,
    market_order_from,
    memo_from_magento,
    refund_rules,
)
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
)

if TYPE_CHECKING:
    from marketbridge.runtime import Runtime


def prepare(runtime: Runtime, creditmemo_id: int, *, replan: bool = False) -> MemoOutcome:
    """Read the memo and both orders, compute the OR28 lines or hold the memo for finance.

    Returns a :class:`MemoOutcome`. A memo already sending/sent/refunded/ignored is left alone; a held
    memo is planned again only with ``replan`` (a person pressed Retry). Storage is the flow's port
    (``runtime.refunds_store``): tests/unit/test_refunds_flow.py runs this on fakes.
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
    market = _read_order(runtime, order.ext_order_id)
    with store.unit_of_work() as repo:
        row = repo.memo(creditmemo_id, lock=True)
        if row.status in (SENDING, *DONE_STATUSES):  # another worker got further meanwhile
            return MemoOutcome(row.status, order_id=row.order_id)
        if market is None:
            _hold(repo, row, refunds_domain.REFUND_ORDER_UNKNOWN,
                  f"Credit memo {row.creditmemo_increment_id} is for John Lewis order {row.order_id}, which does not "
                  "exist on the marketplace (it was never imported by marketbridge). Nothing was sent.")
            return MemoOutcome(row.status, order_id=row.order_id)
        links = repo.skus.all_links()
        plan = refunds_domain.plan_refund(domain_memo, market_order_from(market, runtime.settings.order_tax_mode.value, links),
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
