"""Use cases of the refunds flow: Adobe Commerce credit memos become Mirakl OR28 refunds.

The life of a credit memo (table ``refunds_out``, states in :mod:`.states`):

1. :func:`record_creditmemo` stores its id the moment we hear of it (webhook, :mod:`.webhooks`, or
   poll, :mod:`.polling`).
2. :func:`prepare` (:mod:`.prepare`) computes the OR28 lines with the pure rules of
   :mod:`marketbridge.domain.refunds`, or holds the memo for finance; nothing is sent.
3. :func:`send` (:mod:`.send`) sends OR28 once, never doubled: an ambiguous attempt is resolved by
   adopting the refunds already on the marketplace rather than sending again.
4. :func:`follow` (:mod:`.follow`) follows our refunds to ``REFUNDED`` and records refunds we did
   not send, which finance may mirror in Adobe Commerce (:func:`mirror_marketplace_refund`). It
   reads OR11, or with ``order_feed_enabled`` the order feed's mirror (:mod:`.orders`).

Every command takes the :class:`~marketbridge.runtime.Runtime` (settings, database, clients). This
package exposes the flow's commands and views; the modules hold the rest.
"""

from marketbridge.services.refunds.follow import follow, observe, observe_orders
from marketbridge.services.refunds.mirror import mirror_marketplace_refund
from marketbridge.services.refunds.polling import (
    pending_creditmemos,
    poll_creditmemos,
    report_delayed,
    workflow_id,
)
from marketbridge.services.refunds.prepare import prepare
from marketbridge.services.refunds.reading import list_marketplace_refunds, list_refunds, request_retry, show
from marketbridge.services.refunds.reasons import reason_table, refresh_reasons
from marketbridge.services.refunds.recording import record_creditmemo
from marketbridge.services.refunds.send import process, send
from marketbridge.services.refunds.states import (
    HELD,
    IGNORED,
    NEW,
    PLANNED,
    REFUNDED,
    SENDING,
    SENT,
    WAIT,
    RefundActionError,
)
from marketbridge.services.refunds.webhooks import creditmemo_id_from_event, on_creditmemo_event

__all__ = [
    "HELD", "IGNORED", "NEW", "PLANNED", "REFUNDED", "SENDING", "SENT", "WAIT", "RefundActionError",
    "creditmemo_id_from_event", "follow", "list_marketplace_refunds", "list_refunds", "mirror_marketplace_refund",
    "observe", "observe_orders", "on_creditmemo_event", "pending_creditmemos", "poll_creditmemos", "prepare", "process",
    "reason_table", "record_creditmemo", "refresh_reasons", "report_delayed", "request_retry", "send", "show",
    "workflow_id",
]
