"""Where the marketplace call counts and the flows' deferrals are kept, for every process to read
(``adapters.db.call_budget``; written in batches by ``adapters.mirakl.usage``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from marketbridge.domain.budgets import CallCount, Deferral


class CallBudgetStore(Protocol):
    def add(self, counts: Sequence[CallCount], deferrals: Sequence[Deferral]) -> None:
        """Add ``counts`` to the stored buckets (same bucket, API and flow: summed) and keep each
        flow's latest deferral, in one transaction."""
        ...

    def read(self, since: float) -> tuple[list[CallCount], list[Deferral]]:
        """The buckets that started at or after ``since`` (epoch seconds), and the latest deferral
        of each flow (kept a day)."""
        ...


@runtime_checkable
class MarketplacePaces(Protocol):
    """The Mirakl client's paces and limiter, read-only (``MiraklClient.pace`` / ``next_free``)."""

    def pace(self, code: str) -> float | None:
        """Seconds between two calls of ``code`` (scaled), ``None`` for a per-event API."""
        ...

    def next_free(self, code: str) -> float:
        """Seconds until the limiter would let a call of ``code`` go; claims nothing."""
        ...


__all__ = ["CallBudgetStore", "MarketplacePaces"]
