"""The marketplace budget report: for each Mirakl API, its limit, the calls of the last minute and
hour (in all and per flow), the next free slot, and each flow's latest deferral in plain English.

One function, :func:`report`, for the console page (``/budgets``), its JSON twin
(``GET /api/mirakl/budgets``) and ``marketbridge mirakl budgets``. The counts are what every
process has written (``runtime.call_budget_store``, up to ~10 s behind) plus this process's own
unwritten ones; the arithmetic is :mod:`marketbridge.domain.budgets`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from marketbridge.call_flow import FLOWS
from marketbridge.domain import budgets as budget_domain
from marketbridge.domain.budgets import ApiBudget, Deferral
from marketbridge.ports.budgets import MarketplacePaces

log = structlog.get_logger(__name__)

#: Shown even when nobody called them in the last hour: the APIs whose budget the flows share.
ALWAYS = ("OR11", "STO01", "PRI01", "OF01")


@dataclass
class BudgetReport:
    now: float
    apis: list[ApiBudget]
    deferrals: list[Deferral]  # the latest of each flow, newest first
    notes: list[str] = field(default_factory=list)

    def deferral_lines(self) -> list[str]:
        return [budget_domain.deferral_line(d, self.now, FLOWS) for d in self.deferrals]

    def waiting_lines(self) -> list[str]:
        return [budget_domain.deferral_line(d, self.now, FLOWS) for d in self.deferrals if d.waiting(self.now)]

    def as_dict(self) -> dict[str, Any]:
        return {"at": budget_domain.iso(self.now),
                "apis": [api.as_dict(self.now) for api in self.apis],
                "deferrals": [budget_domain.deferral_dict(d, self.now) for d in self.deferrals],
                "waiting": self.waiting_lines(), "notes": list(self.notes)}


def _paces(runtime: Any) -> MarketplacePaces | None:
    try:
        client = runtime.mirakl
    except Exception as error:  # noqa: BLE001 - no Mirakl configured: counts only
        log.info("budgets.no_mirakl_client", error=str(error)[:200])
        return None
    return client if isinstance(client, MarketplacePaces) else None


def report(runtime: Any, *, now: float | None = None) -> BudgetReport:
    now = time.time() if now is None else now
    store = runtime.call_budget_store
    counts, deferrals = store.read(now - budget_domain.HOUR - budget_domain.BUCKET_SECONDS) if store else ([], [])
    own_counts, own_deferrals = runtime.call_usage.pending()
    counts = counts + own_counts
    deferrals = deferrals + own_deferrals
    notes = ["Counts from other worker processes arrive within about 10 seconds."]
    client = _paces(runtime)
    apis = set(ALWAYS) | {c.api for c in counts} | {d.api for d in deferrals}
    paces: dict[str, float | None] = {}
    next_free: dict[str, float] = {}
    if client is None:
        notes.append("The Mirakl client is not configured here: limits and next slots are unknown.")
    else:
        for api in apis:
            try:
                paces[api] = client.pace(api)
                next_free[api] = client.next_free(api)
            except KeyError:  # an API code this version does not know (an older row)
                paces[api] = None
    latest = budget_domain.latest_deferral_per_flow(deferrals)
    rows = budget_domain.budgets(paces, counts, latest, now, next_free=next_free, always=ALWAYS)
    return BudgetReport(now, rows, latest, notes)


__all__ = ["ALWAYS", "BudgetReport", "report"]
