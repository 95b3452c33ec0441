"""Pure rules of the refunds flow (no I/O): a Magento credit memo becomes OR28 refund lines.

Three modules: :mod:`.model` (inputs, outputs, money in pence), :mod:`.planning` (the rules
below), :mod:`.issue_types` (what finance sees). Import from this package.

Everything here works in pence (``int``) internally and takes/returns ``Decimal`` money at the
edges, so no float rounding can make a refund a penny larger than what remains.

The rules, in the order :func:`plan_refund` applies them
------------------------------------------------------------

1. **Lines by SKU and quantity.** Each credit-memo item is matched to the marketplace order lines
   whose ``offer_sku`` (or ``product_sku``) equals the item's SKU, in line order. Its quantity is
   spread greedily over those lines by the quantity each still has (ordered - refunded -
   cancelled); any excess lands on the last matching line, where the amount check below reports
   it. The item's amount is split between lines in proportion to the quantity given to each, the
   last part taking the rounding remainder.
2. **Item amount in the order's tax mode.** ``TAX_INCLUDED``: the memo row total including tax,
   less its discount. ``TAX_EXCLUDED``: the row total excluding tax, less its discount.
   **At the price the customer paid.** When the Adobe Commerce unit price differs from the
   marketplace line's unit price by more than a penny (the product was repriced between the sale
   and the order's creation: REST carts take Magento's price), the amount is converted at the
   ratio of the two unit prices: a whole unit refunded in Magento refunds the whole unit paid on
   the marketplace, a part of a unit the same part of it.
3. **Shipping.** The memo's shipping refund (including tax in ``TAX_INCLUDED``), zero when the
   memo refunds no shipping. It is placed greedily on the lines being refunded, in line order, up
   to the shipping each still has; what is left goes to the order's other refundable lines. More
   shipping than the order has left is a problem.
4. **Adjustments** (Magento's "adjustment refund" minus "adjustment fee"). With the ``allocate``
   policy the net adjustment is spread over the refunded item lines in proportion to their item
   amounts (largest remainder, to the penny): a positive adjustment is added to a line up to what
   that line still has refundable, a negative one is taken off a line down to zero; a share that
   does not fit moves to the other lines. A positive adjustment larger than the lines have left
   is an over-refund (reported by rule 7 with the amounts). When it cannot be placed at all (no
   item lines refunded, or a fee larger than the refunded items), or the policy is ``flag``, the
   memo is held for finance with ``adjustment_unallocated`` and nothing is sent.
5. **Taxes.** With the marketplace refund-tax rule ``none`` (or a line tax whose rule is ``none``)
   each refund line carries ``taxes``/``shipping_taxes``: the tax contained in the refunded amount
   at the line's tax rate (``amount x rate / (100 + rate)`` in ``TAX_INCLUDED``, ``amount x rate /
   100`` in ``TAX_EXCLUDED``), or pro rata to the line's tax amount when no rate is given. With
   ``proportional_to_amount`` no taxes are sent and Mirakl computes them.
6. **Reason code** from the memo's comments: the first keyword of the mapping found in them
   (case-insensitive) gives the RE01 code, else the default.
7. **Validation** per line before anything is sent: the line is refundable in its state (never
   CLOSED; SHIPPED, TO_COLLECT or RECEIVED, or any state the marketplace's ``can_refund`` allows,
   such as SHIPPING on operators that refund before shipping) and the marketplace has not said
   otherwise (``can_refund`` false holds it for finance; an unshipped line's message says whether
   the order's ``can_cancel`` allows cancelling it instead), the amount and shipping do not exceed what remains
   after earlier refunds and cancellations, and the memo's currency is the order's currency.
   Every failure is a :class:`Problem` with a plain-English message for finance.
"""

from __future__ import annotations

from marketbridge.domain.refunds.issue_types import (
    MARKETPLACE_REFUND,
    REFUND_ADJUSTMENT_UNALLOCATED,
    REFUND_DELAYED,
    REFUND_NOT_COMPLETED,
    REFUND_NOT_SENT,
    REFUND_ORDER_UNKNOWN,
    REFUND_REFUSED,
)
from marketbridge.domain.refunds.model import (
    FINAL_REFUND_STATES,
    NOT_YET_SHIPPED_STATES,
    PENNY,
    REFUNDABLE_LINE_STATES,
    AdjustmentPolicy,
    CreditMemo,
    LineCancelation,
    LineRefund,
    LineTax,
    MarketLine,
    MarketOrder,
    MemoItem,
    PlannedLine,
    Problem,
    ProblemCode,
    RefundPlan,
    RefundRules,
    TaxMode,
    fmt_money,
    from_pence,
    to_pence,
)
from marketbridge.domain.refunds.planning import (
    allocate,
    at_marketplace_price,
    check_line,
    matching_refunds,
    plan_refund,
    problem_issue_type,
    reason_code_for,
    tax_in,
)

__all__ = [
    "AdjustmentPolicy",
    "CreditMemo",
    "FINAL_REFUND_STATES",
    "LineCancelation",
    "LineRefund",
    "LineTax",
    "MARKETPLACE_REFUND",
    "MarketLine",
    "MarketOrder",
    "MemoItem",
    "NOT_YET_SHIPPED_STATES",
    "PENNY",
    "PlannedLine",
    "Problem",
    "ProblemCode",
    "REFUNDABLE_LINE_STATES",
    "REFUND_ADJUSTMENT_UNALLOCATED",
    "REFUND_DELAYED",
    "REFUND_NOT_COMPLETED",
    "REFUND_NOT_SENT",
    "REFUND_ORDER_UNKNOWN",
    "REFUND_REFUSED",
    "RefundPlan",
    "RefundRules",
    "TaxMode",
    "allocate",
    "at_marketplace_price",
    "check_line",
    "fmt_money",
    "from_pence",
    "matching_refunds",
    "plan_refund",
    "problem_issue_type",
    "reason_code_for",
    "tax_in",
    "to_pence",
]
