"""How often the feed reads, and the schedule that says so.

The interval is ``settings.order_feed_interval`` (OR11's documented pace unless set slower)
multiplied by ``mirakl_rate_limit_scale``, as every other Mirakl pace is (1.0 in production; the
tests and the scaled benchmarks shrink it).

DBOS schedules are cron expressions with a seconds field, so only some intervals are a cron of
their own ("every 60 s" is ``0 * * * * *``, "every 15 minutes" ``0 */15 * * * *``). For any other
interval the schedule ticks at the longest period that divides a minute or an hour and is not
longer than the interval, and a tick that comes before the stored ``next_read_due`` (less half a
tick, for the scheduler's own lateness) reads nothing: :func:`tick` and
``services.order_feed.reading.read``'s gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketbridge.settings import Settings

#: Periods (seconds) a cron expression can repeat at evenly: divisors of a minute, then of an hour.
_SECOND_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
_MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)


def interval_seconds(settings: Settings) -> float:
    """Seconds between two feed reads, scaled."""
    return settings.order_feed_interval * settings.mirakl_rate_limit_scale


@dataclass(frozen=True)
class Tick:
    cron: str
    seconds: float

    @property
    def tolerance(self) -> float:
        """How early a tick may come and still read: the scheduler starts a run a little after its
        time, so a run one interval after the last is a few seconds short of it (at most half a
        tick, at most 5 s: never enough to read a whole tick early)."""
        return min(self.seconds / 2, 5.0)


def tick(interval: float) -> Tick:
    """The schedule for reads every ``interval`` seconds: the longest even cron period that is not
    longer than the interval (at least one second, at most an hour)."""
    if interval >= 3600:
        return Tick("0 0 * * * *", 3600.0)
    if interval >= 60:
        minutes = max(step for step in _MINUTE_STEPS if step * 60 <= interval)
        return Tick("0 * * * * *" if minutes == 1 else f"0 */{minutes} * * * *", minutes * 60.0)
    seconds = max([step for step in _SECOND_STEPS if step <= interval] or [1])
    return Tick("* * * * * *" if seconds == 1 else f"*/{seconds} * * * * *", float(seconds))


__all__ = ["Tick", "interval_seconds", "tick"]
