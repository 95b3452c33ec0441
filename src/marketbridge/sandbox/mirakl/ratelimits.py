"""The simulator's call-frequency rules: a minimum interval per API and a count per rolling hour.

What Mirakl documents (General Notes, "Rate limits"; seller OpenAPI, each operation's "Call
Frequency" block):

- each API has a maximum frequency ("OR11: once per minute", "STO02: once every 15 seconds");
- a 429 "Too many requests" means "the user has sent too many requests **in the last hour**",
  and carries ``Retry-After``: the number of seconds to wait before a new request;
- a key registered as an **External Partner** integration may call OR11 only every 15 minutes.

So the simulator keeps both rules, the stricter choice while the exact enforcement is not
published: a call sooner than the interval after the previous one is refused, and so is a call
beyond the hourly count (``3600 / interval`` unless the operator set another figure), with
``Retry-After`` the whole seconds until the call would be accepted (the oldest call of the hour
leaving the window, for the hourly rule). Both windows are multiplied by ``rate_scale``, like
every interval, so tests and the soak keep their speed. Time is real monotonic time, never the
sandbox clock: moving sandbox time must not let a client burst.

Each interval check forgives ``grace`` seconds (two limiters a few ms apart). The hourly window
is shortened by the same grace per call of the quota, so a client that is exactly ``grace`` early
every time still fits, and the hourly rule only refuses a client that really exceeds the count.
Follow-up pages of a list are not counted (a local decision; docs/api-notes.md).

Two APIs keep more than one budget. OR13 keeps its 5-minute pace on every call, and a *full*
export (no update-date range) also the 24-hour one; a call must fit both and is recorded in both
or in neither. OR14 is paced "per OR13 call", so its budget is kept per export (``scope`` is the
tracking id). OF52's full export keeps only its daily budget, as before.

Operators may set slower paces or smaller hourly counts: ``POST /_sandbox/rate-limits``
``{"intervals": {"OR11": 300}, "hourly_quotas": {"OR11": 10}}`` (unscaled seconds and counts).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from marketbridge.adapters.mirakl.endpoints import (
    ENDPOINTS,
    HOUR,
    OF52_FULL_INTERVAL,
    OF52_FULL_KEY,
    OR13_FULL_INTERVAL,
    OR13_FULL_KEY,
    hourly_quota,
    pacing,
)
from marketbridge.sandbox.mirakl.core import SandboxError, ceil_seconds


class CallFrequency:
    """Interval and hourly count per API for one shop. Not thread-safe: the state's lock guards it."""

    def __init__(self, rate_scale: float, grace: float) -> None:
        self.rate_scale = rate_scale
        self.grace = grace
        self.intervals: dict[str, float] = {}  # operator overrides, unscaled seconds
        self.hourly_quotas: dict[str, int] = {}  # operator overrides, calls per rolling hour
        self._last: dict[str, float] = {}
        self._hour: dict[str, deque[float]] = {}

    def check(self, api: str, now: float, *, full_export: bool = False, external_partner: bool = False,
              scope: str | None = None) -> int | None:
        """Record a call of ``api`` at monotonic ``now``; a Retry-After (whole seconds) if refused.

        ``scope`` keeps a separate budget per object (OR14: per export); ``full_export`` selects
        the once-a-day budget of OF52 and OR13."""
        budgets = self._budgets(api, full_export=full_export, external_partner=external_partner, scope=scope)
        refusals = [retry for key, interval, quota in budgets
                    if (retry := self._refusal(key, interval, quota, now)) is not None]
        if refusals:
            return max(refusals)
        for key, _interval, quota in budgets:
            if quota is not None:
                self._hour.setdefault(key, deque()).append(now)
            self._last[key] = now
        return None

    def _budgets(self, api: str, *, full_export: bool, external_partner: bool,
                 scope: str | None) -> list[tuple[str, float, int | None]]:
        """``(key, scaled interval, hourly count or None)`` for every budget this call must fit."""
        if full_export and api == "OF52":
            return [(OF52_FULL_KEY, OF52_FULL_INTERVAL * self.rate_scale, None)]
        paces = pacing(self.intervals, external_partner=external_partner)
        if api not in paces:
            return []
        interval = paces[api]
        quota = self.hourly_quotas.get(api, hourly_quota(interval))
        budgets = [(api if scope is None else f"{api}:{scope}", interval * self.rate_scale, quota)]
        if full_export and api == "OR13":
            budgets.append((OR13_FULL_KEY, OR13_FULL_INTERVAL * self.rate_scale, None))
        return budgets

    def _refusal(self, key: str, interval: float, quota: int | None, now: float) -> int | None:
        """Retry-After if a call of ``key`` now breaks its pace or its hourly count; records nothing."""
        last = self._last.get(key)
        if last is not None and now - last < interval - self.grace:
            return ceil_seconds(interval - (now - last))
        if quota is not None:
            window = HOUR * self.rate_scale
            window = max(window - quota * self.grace, window / 2)
            calls = self._hour.setdefault(key, deque())
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= quota:
                return ceil_seconds(calls[0] + window - now)
        return None

    def reset(self) -> None:
        self._last.clear()
        self._hour.clear()

    def configure(self, body: Any) -> dict[str, Any]:
        """Apply ``{"intervals": {code: seconds}, "hourly_quotas": {code: count}}`` (both optional)."""
        if not isinstance(body, dict) or set(body) - {"intervals", "hourly_quotas"}:
            raise SandboxError(400, 'body must be {"intervals"?: {API: seconds}, "hourly_quotas"?: {API: count}}')
        intervals = body.get("intervals", self.intervals)
        quotas = body.get("hourly_quotas", self.hourly_quotas)
        for name, table in (("intervals", intervals), ("hourly_quotas", quotas)):
            if not isinstance(table, dict) or any(code not in ENDPOINTS for code in table):
                raise SandboxError(400, f"{name} must map known API codes to numbers")
            if any(isinstance(v, bool) or not isinstance(v, int | float) or v <= 0 for v in table.values()):
                raise SandboxError(400, f"every value of {name} must be a number > 0")
        try:
            pacing({k: float(v) for k, v in intervals.items()})
        except ValueError as error:
            raise SandboxError(400, str(error)) from None
        self.intervals = {k: float(v) for k, v in intervals.items()}
        self.hourly_quotas = {k: int(v) for k, v in quotas.items()}
        return self.as_dict()

    def as_dict(self) -> dict[str, Any]:
        return {"rate_scale": self.rate_scale, "intervals": dict(self.intervals),
                "hourly_quotas": dict(self.hourly_quotas)}


__all__ = ["CallFrequency"]
