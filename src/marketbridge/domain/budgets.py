"""Marketplace call budgets: how much of each Mirakl API's allowance the flows have spent, and who.

Mirakl allows each API a maximum call frequency per shop (OR11 once a minute, STO01 and PRI01
once a minute, P41 every 15 minutes...), counted by Mirakl per rolling hour. Every flow calling an
API shares its one allowance. This module is the arithmetic the console's "Marketplace budgets"
page, its JSON twin and ``marketbridge mirakl budgets`` show; it is pure (no clock, no I/O): the
caller passes ``now`` and the recorded counts.

Counts arrive in buckets of :data:`BUCKET_SECONDS` per (API, flow) (see
``adapters.mirakl.usage`` for why they are bucketed). "Last minute" and "last hour" add up every
bucket that *overlaps* the window, so they may include up to one bucket (10 s) more than the
window: the figures err on the side of "more spent", never less.

Limits come from the pace (seconds between two calls, already scaled by ``rate_scale``):
at most ``max(1, 60 // pace)`` calls in any minute and ``max(1, 3600 // pace)`` in any hour.
An API without a pace (OR23, OR24, OR28: one call per business event) has no limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

BUCKET_SECONDS = 10
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class CallCount:
    """Calls of ``api`` made for ``flow`` in the bucket starting at ``start`` (epoch seconds)."""

    start: float
    api: str
    flow: str
    calls: int
    last_at: float  # epoch seconds of the latest of those calls


@dataclass(frozen=True)
class Deferral:
    """A flow put its work off because ``api`` was not due (our pace or Mirakl's Retry-After)."""

    flow: str
    api: str
    at: float  # when it was refused (epoch seconds)
    until: float  # when the API is expected to be free again (epoch seconds)
    reason: str = ""

    def waiting(self, now: float) -> bool:
        return self.until > now


@dataclass(frozen=True)
class FlowUse:
    flow: str
    last_minute: int
    last_hour: int


@dataclass(frozen=True)
class ApiBudget:
    api: str
    pace: float | None  # seconds between two calls; None: per business event
    per_minute: int | None
    per_hour: int | None
    last_minute: int
    last_hour: int
    flows: tuple[FlowUse, ...]
    next_free_in: float  # seconds from now; 0 = a call may go now
    deferrals: tuple[Deferral, ...]  # the most recent one of each flow, for this API

    @property
    def over(self) -> bool:
        """More calls than the pace allows were counted (another client on the shop's key, or a
        limit the operator made slower since)."""
        return ((self.per_hour is not None and self.last_hour > self.per_hour)
                or (self.per_minute is not None and self.last_minute > self.per_minute))

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "api": self.api, "pace_seconds": self.pace, "pace": pace_words(self.pace),
            "limit_per_minute": self.per_minute, "limit_per_hour": self.per_hour,
            "last_minute": self.last_minute, "last_hour": self.last_hour, "over": self.over,
            "flows": [{"flow": f.flow, "last_minute": f.last_minute, "last_hour": f.last_hour} for f in self.flows],
            "next_free_in_seconds": round(self.next_free_in, 1),
            "next_free_at": iso(now + self.next_free_in),
            "deferrals": [deferral_dict(d, now) for d in self.deferrals],
        }


def limits(pace: float | None) -> tuple[int | None, int | None]:
    """(calls per minute, calls per hour) allowed at one call per ``pace`` seconds."""
    if pace is None or pace <= 0:
        return None, None
    return max(1, int(MINUTE // pace)), max(1, int(HOUR // pace))


def _in_window(count: CallCount, now: float, window: float) -> bool:
    return count.start + BUCKET_SECONDS > now - window and count.start <= now


def api_budget(api: str, pace: float | None, counts: Iterable[CallCount], now: float, *,
               next_free_in: float = 0.0, deferrals: Iterable[Deferral] = ()) -> ApiBudget:
    """One API's budget from its counts (other APIs' counts are ignored).

    ``next_free_in`` is the limiter's word (seconds); the latest recorded call plus the pace is a
    floor under it, for a reader that does not share the limiter of the worker that called."""
    minute: dict[str, int] = {}
    hour: dict[str, int] = {}
    latest = 0.0
    for count in counts:
        if count.api != api:
            continue
        latest = max(latest, count.last_at)
        if _in_window(count, now, HOUR):
            hour[count.flow] = hour.get(count.flow, 0) + count.calls
        if _in_window(count, now, MINUTE):
            minute[count.flow] = minute.get(count.flow, 0) + count.calls
    free_in = max(0.0, next_free_in)
    if pace and latest:
        free_in = max(free_in, latest + pace - now)
    per_minute, per_hour = limits(pace)
    flows = tuple(sorted((FlowUse(flow, minute.get(flow, 0), calls) for flow, calls in hour.items()),
                         key=lambda use: (-use.last_hour, use.flow)))
    latest_deferrals: dict[str, Deferral] = {}
    for deferral in deferrals:
        if deferral.api == api and (deferral.flow not in latest_deferrals
                                    or deferral.at > latest_deferrals[deferral.flow].at):
            latest_deferrals[deferral.flow] = deferral
    return ApiBudget(api, pace, per_minute, per_hour, sum(minute.values()), sum(hour.values()), flows,
                     free_in, tuple(sorted(latest_deferrals.values(), key=lambda d: -d.at)))


def budgets(paces: Mapping[str, float | None], counts: Iterable[CallCount], deferrals: Iterable[Deferral],
            now: float, *, next_free: Mapping[str, float] | None = None,
            always: Iterable[str] = ()) -> list[ApiBudget]:
    """The budget of every API in ``always`` and of every API called in the last hour or with a
    deferral on record, in API-code order. ``paces`` gives each API's pace (absent: per event)."""
    counts = [c for c in counts if _in_window(c, now, HOUR) or c.last_at > now - DAY]
    deferrals = list(deferrals)
    apis = set(always) | {c.api for c in counts if _in_window(c, now, HOUR)} | {d.api for d in deferrals}
    return [api_budget(api, paces.get(api), counts, now, next_free_in=(next_free or {}).get(api, 0.0),
                       deferrals=deferrals) for api in sorted(apis)]


def latest_deferral_per_flow(deferrals: Iterable[Deferral]) -> list[Deferral]:
    """The most recent deferral of each flow, newest first."""
    latest: dict[str, Deferral] = {}
    for deferral in deferrals:
        if deferral.flow not in latest or deferral.at > latest[deferral.flow].at:
            latest[deferral.flow] = deferral
    return sorted(latest.values(), key=lambda d: -d.at)


# --- words ------------------------------------------------------------------------------------------


def in_words(seconds: float) -> str:
    """``42 s``, ``3 min``, ``1 h 5 min``, ``2 days``."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < HOUR:
        return f"{seconds / MINUTE:.0f} min"
    if seconds < 2 * DAY:
        hours, rest = divmod(int(round(seconds / MINUTE)), 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{seconds / DAY:.0f} days"


def pace_words(pace: float | None) -> str:
    if pace is None or pace <= 0:
        return "once per business event"
    if abs(pace - MINUTE) < 0.5:
        return "once a minute"
    if abs(pace - HOUR) < 0.5:
        return "once an hour"
    if abs(pace - DAY) < 0.5:
        return "once a day"
    return f"once every {in_words(pace)}"


def deferral_line(deferral: Deferral, now: float, flow_words: Mapping[str, str] | None = None) -> str:
    """Plain English: ``order feed: waiting for OR11, next slot in 42 s`` while it waits,
    ``order feed: waited for OR11 3 min ago`` afterwards."""
    who = (flow_words or {}).get(deferral.flow, deferral.flow.replace("_", " "))
    if deferral.waiting(now):
        return f"{who}: waiting for {deferral.api}, next slot in {in_words(deferral.until - now)}"
    return f"{who}: waited for {deferral.api} {in_words(now - deferral.at)} ago; free again since then"


def deferral_dict(deferral: Deferral, now: float) -> dict[str, object]:
    return {"flow": deferral.flow, "api": deferral.api, "at": iso(deferral.at), "until": iso(deferral.until),
            "waiting": deferral.waiting(now), "reason": deferral.reason, "text": deferral_line(deferral, now)}


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


__all__ = ["BUCKET_SECONDS", "ApiBudget", "CallCount", "Deferral", "FlowUse", "api_budget", "budgets",
           "deferral_dict", "deferral_line", "in_words", "iso", "latest_deferral_per_flow", "limits", "pace_words"]
