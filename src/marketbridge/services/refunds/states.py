"""States of ``refunds_out``, the stream cursor names and the mirror marker shared by the
refunds flow's modules."""

from __future__ import annotations

import re

CURSOR_CREDITMEMOS = "magento.creditmemos"
CURSOR_MARKETPLACE_REFUNDS = "mirakl.refunds.updated"
MIRROR_MARKER = "marketbridge: mirrors John Lewis refund"
_MIRROR_RE = re.compile(re.escape(MIRROR_MARKER) + r" (\S+)")

# statuses of refunds_out
NEW, PLANNED, SENDING, SENT, REFUNDED, HELD, IGNORED = "new", "planned", "sending", "sent", "refunded", "held", "ignored"
DONE_STATUSES = (SENT, REFUNDED, IGNORED)
#: Not a status of ``refunds_out`` but an outcome of ``prepare``: the order feed has not read the
#: marketplace since the memo was made; prepare again after ``retry_after`` seconds (the memo stays new).
WAIT = "wait"


class RefundActionError(Exception):
    """A person asked for something that cannot be done; the message says why, in plain English."""
