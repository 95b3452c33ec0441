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


class RefundActionError(Exception):
    """A person asked for something that cannot be done; the message says why, in plain English."""
