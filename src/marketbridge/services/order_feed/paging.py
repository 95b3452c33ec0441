"""Hand a read's entries on a page at a time, timing the source: shared by the feed's OR11 read
(:mod:`.reading`) and its export read (:mod:`.exporting`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

_END = object()


def in_pages(entries: Iterable[Any], size: int, handle: Callable[[list[Any]], None],
             waited: Callable[[float], None]) -> None:
    """Pass ``entries`` to ``handle`` ``size`` at a time (the last page may be shorter). ``waited``
    is told how long each entry took to come: with a lazy source (OR11's pages, the export's files)
    that is Mirakl's time and the client's pace, kept apart from our own work on the page."""
    source = iter(entries)
    page: list[Any] = []
    while True:
        clock = time.monotonic()
        raw = next(source, _END)
        waited(time.monotonic() - clock)
        if raw is _END:
            break
        page.append(raw)
        if len(page) >= size:
            handle(page)
            page = []
    if page:
        handle(page)


__all__ = ["in_pages"]
