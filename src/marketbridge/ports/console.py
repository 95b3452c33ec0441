"""The operations console's read port (implemented in :mod:`marketbridge.adapters.db.console`).

``services.console.dashboard`` shapes what the console pages and ``/metrics`` show (flow health,
issue lists, the activity log with failed log-in names hidden); ``services.console.actions`` finds
the issue record a person acts on, and acts in an :class:`IssueActionsUnit`. Both read through :class:`ConsoleQueries`, a read-only query
object on a session the caller holds (the web request's), so they write no SQL and the pages keep
reading in the request's one transaction.

What the console reads that belongs to other flows goes through those flows' own query functions,
which the composition root hands to the adapter: the open issue counts (``services.issues``) and
the age of the oldest unsent stock change (``services.stock.queries``). The tables it reads itself
are the shared ones of ``adapters/db/models/core.py``: ``issue_records``, ``audit_log`` (the
activity log; ``detail`` is a JSON object) and ``stream_cursors`` (a poll's cursor, named
``<flow>.<what>`` or ``<flow>:<what>``, with ``updated_at`` in UTC).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.adapters.db.models.core import AuditLogEntry, IssueRecord
    from marketbridge.ports.issues import IssuesRepository
    from marketbridge.ports.shared import SkuLinksRepository


class ConsoleQueries(Protocol):
    """The console's reads, on one session. Nothing here writes."""

    # ------------------------------------------------------------------ what is installed
    def has_table(self, name: str, schema: str | None = None) -> bool:
        """Whether the table exists (False also when the database cannot be reached: the page
        shows "not available", never an error)."""
        ...

    def engine_tables_exist(self, workflow_database_url: str | None) -> bool:
        """Whether the workflow engine (DBOS) has created its tables: schema ``dbos`` on
        PostgreSQL; on SQLite, in the engine's own file when it has one."""
        ...

    # ------------------------------------------------------------------ issue records
    def open_counts_by_owner(self) -> dict[str, int]:
        """Active records per owning team (every team present, 0 when none): ``services.issues``."""
        ...

    def open_counts_by_type(self) -> dict[tuple[str, str], int]:
        """Active records per (type code, owning team): ``services.issues``."""
        ...

    def critical_counts_by_owner(self, states: Collection[str]) -> dict[str, int]:
        """Records in ``states`` of severity ``critical``, per owning team (teams with none absent)."""
        ...

    def issues(self, *, states: Collection[str] | None, team: str | None, type_code: str | None,
               search: str | None, limit: int) -> Sequence[IssueRecord]:
        """Records newest first (``last_seen``, then id); ``states`` None: any state; ``search``
        matches inside the object id literally (``%`` and ``_`` are not wildcards)."""
        ...

    def issue_record(self, record_id: int) -> IssueRecord | None: ...

    def reread(self, record: IssueRecord) -> None:
        """Load the record's columns again from storage (another transaction may have changed it)."""
        ...

    def issues_of_objects(self, object_ids: Collection[str], states: Collection[str]) -> Sequence[IssueRecord]:
        """Records in ``states`` whose object id is one of ``object_ids``."""
        ...

    def issues_of_types(self, codes: Collection[str], states: Collection[str], *,
                        limit: int | None = None) -> Sequence[IssueRecord]:
        """Records of these type codes in ``states``; with ``limit``, the oldest first (``first_seen``)."""
        ...

    # ------------------------------------------------------------------ the activity log
    def issue_history(self, record_id: int, limit: int) -> Sequence[AuditLogEntry]:
        """The activity log lines about one issue record (``object_type`` ``exception``), newest first."""
        ...

    def activity(self, *, actor: str | None, without_action: str | None, limit: int) -> Sequence[AuditLogEntry]:
        """Activity log lines newest first (``at``, then id); ``actor`` keeps one person's,
        ``without_action`` leaves one action out."""
        ...

    # ------------------------------------------------------------------ lags
    def oldest_unsent_stock_change(self) -> datetime | None:
        """When the oldest stock or price change not yet sent was first noticed (None: none
        pending): ``services.stock.queries``."""
        ...

    def cursor_moves(self) -> Sequence[tuple[str, datetime | None]]:
        """Every poll cursor's name and when it last moved."""
        ...


class IssueActionsUnit(Protocol):
    """What a person's action on an issue record works in (``services.console.actions.perform``):
    the request's transaction, as the console's reads, the issue records and the SKU links (the
    one flow action that writes in it, a confirmed link) on it, and the transaction's two moves:
    ``perform`` commits it before a flow action (the flow writes in its own transactions) and rolls
    it back when the action fails, to audit the attempt alone."""

    @property
    def queries(self) -> ConsoleQueries: ...

    @property
    def issues(self) -> IssuesRepository: ...

    @property
    def links(self) -> SkuLinksRepository: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class ConsoleStore(Protocol):
    """Where the console's query objects come from (``runtime.console_store``)."""

    def on_session(self, session: Session) -> ConsoleQueries:
        """Queries on a session the caller holds (the request's): nothing is committed here."""
        ...

    def actions_on(self, session: Session) -> IssueActionsUnit:
        """An issue action's unit of work on the request's session (see :class:`IssueActionsUnit`)."""
        ...
