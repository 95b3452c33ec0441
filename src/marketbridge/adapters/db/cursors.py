"""The flows' stream cursors (``stream_cursors``: a name and the last value a poll got to), read
and moved the same way by every SQL repository that keeps one (shipments, refunds, catalogue,
orders). The stock poll keeps its own, which only moves forward."""

from __future__ import annotations

from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.core import StreamCursor


class StreamCursors:
    """``cursor`` / ``move_cursor`` of a repository's port, on its ``session``."""

    session: Session

    def cursor(self, name: str) -> str | None:
        row = self.session.get(StreamCursor, name)
        return row.value if row is not None else None

    def move_cursor(self, name: str, value: str) -> None:
        row = self.session.get(StreamCursor, name)
        if row is None:
            self.session.add(StreamCursor(name=name, value=value))
        else:
            row.value = value
