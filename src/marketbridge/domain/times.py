"""Lenient readers of the dates and times that stored JSON and Magento attributes carry as text.

One place for them: the console, the orders views, the stock rules and the catalogue each had
their own copy. Both read what they can and answer ``None`` for anything else, because the values
come from outside (Mirakl's order JSON, Magento's ``special_from_date``) and a bad one must not
stop a page or a pass.
"""

from __future__ import annotations

import datetime as dt


def as_datetime(value: object) -> dt.datetime | None:
    """ISO strings and datetimes alike (a naive one is taken as UTC); anything else → None."""
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def as_date(value: object) -> dt.date | None:
    """The date at the start of an ISO string (``2026-12-06`` or ``2026-12-06 00:00:00``); empty or
    unreadable → None."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
