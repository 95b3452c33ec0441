"""The audit flow's storage port (implemented in :mod:`marketbridge.adapters.db.audit`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from marketbridge.ports.shared import OrderRecords, SkuLinks, StockRecords

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.catalogue import AuditDrift, AuditRun
    from marketbridge.adapters.db.models.core import IssueRecord


class AuditRepository(Protocol):
    """What the audit reads and writes in one unit of work: its runs (``audit_runs``) and their
    drift rows (``audit_drifts``), the catalogue's publish overrides and the imports its fixes send
    (``catalogue_imports``), its bulk issue records, and through the other ports the SKU links, the
    units sold that Adobe Commerce does not hold yet (orders flow), and the stock flow's rules and
    hints. Records handed out are changed in place; the unit of work keeps the changes."""

    @property
    def skus(self) -> SkuLinks: ...

    @property
    def orders(self) -> OrderRecords: ...

    @property
    def stock(self) -> StockRecords: ...

    # ------------------------------------------------------------------ runs and drift rows
    def add_run(self, *, trigger: str, fix: bool) -> int:
        """Store a new run (``running``, no counts yet) at once; its id."""
        ...

    def run(self, run_id: int) -> AuditRun | None: ...

    def list_runs(self, limit: int) -> Sequence[AuditRun]:
        """Newest first."""
        ...

    def drifts(self, run_id: int, *, kind: str | None = None, limit: int | None = None) -> Sequence[AuditDrift]:
        """The run's drift rows in the order they were found (``kind`` filters; ``limit`` caps)."""
        ...

    def add_drifts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert every drift row (``rows`` by column) in one bulk statement."""
        ...

    def last_run_started(self, offer_source: str) -> datetime | None:
        """When the newest run that read its offers from ``offer_source`` started (None: never)."""
        ...

    # ------------------------------------------------------------------ the catalogue's data
    def publish_overrides(self) -> dict[str, str]:
        """Magento SKU -> the person's publish override action, for every override."""
        ...

    def add_import(self, *, api: str, import_id: str, skus: list[str], purpose: str) -> None:
        """Record an import sent to the marketplace (``catalogue_imports``)."""
        ...

    def finish_import(self, api: str, import_id: str, *, status: str, remote_status: str,
                      finished_at: datetime) -> None:
        """Set the outcome of a recorded import (nothing when it is not recorded)."""
        ...

    # ------------------------------------------------------------------ issue records, in bulk
    def issue_records(self, types: Collection[str], states: Sequence[str]) -> Sequence[IssueRecord]:
        """Every issue record of these type codes in these states, in one query."""
        ...

    def add_issue_records(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add new issue records (``rows`` by column)."""
        ...


class AuditStore(Protocol):
    """The audit's storage: each :meth:`unit_of_work` is one transaction, committed when the block
    ends normally and rolled back when it raises."""

    def unit_of_work(self) -> AbstractContextManager[AuditRepository]: ...
