"""What other flows may read of the stock flow's data (issue 18 item 2): the console's overview
asks here for the stock flow's lag, instead of reading ``sync_outbox`` itself."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.stock import SyncOutbox


def oldest_unsent_change(session: Session) -> dt.datetime | None:
    """When the oldest stock or price change not yet sent to the marketplace was first noticed, or
    None when every change has been sent."""
    return session.scalar(select(func.min(SyncOutbox.pending_first_noticed_at))
                          .where(SyncOutbox.pending_value.is_not(None)))
