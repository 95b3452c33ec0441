"""The refunds flow's issue types: what finance sees when a refund cannot go, or goes wrong."""

from __future__ import annotations

from marketbridge.domain.issues import ObjectType, Severity, Team, issue_type

# ============================================================================ issue types
REFUND_NOT_SENT = issue_type(
    "refund_not_sent",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A credit memo could not be turned into a marketplace refund",
    meaning="A credit memo was made in Adobe Commerce for a John Lewis order, but marketbridge checked it "
    "against the marketplace order and found it cannot be refunded as it stands (for example the line "
    "has already been fully refunded, the order is closed, or the amount is more than what is left to "
    "refund). Nothing was sent to John Lewis, so the customer has not been refunded there.",
    action="Read the message: it says which line and why. Refund the customer through John Lewis if the "
    "order is closed, or correct or cancel the credit memo in Adobe Commerce. Resolve the exception when done.",
)
REFUND_REFUSED = issue_type(
    "refund_refused_by_marketplace",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="John Lewis refused a refund",
    meaning="marketbridge sent a refund for a credit memo and the marketplace answered that it cannot be "
    "made. No refund was created on the marketplace for this credit memo.",
    action="Read the marketplace's answer in the message, correct the cause (or refund through John Lewis), "
    "then resolve the exception.",
)
REFUND_ORDER_UNKNOWN = issue_type(
    "refund_order_unknown",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A credit memo refers to a marketplace order that cannot be found",
    meaning="The credit memo's order in Adobe Commerce carries a John Lewis order number, but that order "
    "does not exist on the marketplace (it was never imported by marketbridge, or the number was typed "
    "by hand). Nothing was sent.",
    action="Check the order number on the Adobe Commerce order. If the customer bought on John Lewis, "
    "refund them through John Lewis directly.",
)
REFUND_ADJUSTMENT_UNALLOCATED = issue_type(
    "refund_adjustment_unallocated",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A credit memo's adjustment needs a decision from finance",
    meaning="The credit memo has an adjustment refund or an adjustment fee that marketbridge cannot place on "
    "the marketplace order lines by its rule (for example an adjustment with no items refunded, or more "
    "than the lines have left). The whole credit memo is held; nothing was sent.",
    action="Decide how the adjustment should be refunded: refund it through John Lewis, or replace the "
    "credit memo with one whose adjustment fits the refunded lines.",
)
MARKETPLACE_REFUND = issue_type(
    "marketplace_refund_recorded",
    owner=Team.FINANCE,
    severity=Severity.INFO,
    object_type=ObjectType.REFUND,
    title="A refund was made on the marketplace, not from a credit memo",
    meaning="John Lewis (an operator, after an incident, or a cancellation) refunded a customer on an "
    "order line without a credit memo from us. marketbridge recorded it so the books can match.",
    action="If Adobe Commerce should show this refund, create the matching credit memo with "
    "`marketbridge refunds mirror <refund id>` (or the button on the refund). Otherwise resolve it.",
)
REFUND_DELAYED = issue_type(
    "refund_delayed",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A refund could not be sent yet",
    meaning="A credit memo is ready to go to John Lewis, but the marketplace did not answer or answered with an "
    "error several times in a row. marketbridge keeps trying and will never send it twice; the customer "
    "has not been refunded on the marketplace yet.",
    action="Usually nothing: it clears by itself when the marketplace answers. If it stays, run "
    "`marketbridge check` and look at the technical detail.",
)
REFUND_NOT_COMPLETED = issue_type(
    "refund_not_completed",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A marketplace refund has not been paid out",
    meaning="A refund we sent to John Lewis is still waiting to be paid to the customer long after it was "
    "created.",
    action="Ask John Lewis marketplace support why the refund is still waiting.",
)
