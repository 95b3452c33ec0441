"""Log-in throttling that slows a guesser down without locking the real user out.

Two limits, both kept in the database (``login_failures``, ``login_failure_minutes``) so that a
restart or a second worker does not clear them:

* **Back-off per (name, client address).** The first ``free_failures`` failures of a pair cost
  nothing; after that the pair waits ``base_delay`` seconds, doubling with each further failure, at
  most ``max_delay``. A failure older than ``forget_after`` starts the count again. Because the
  key includes the address, someone guessing at a name from elsewhere does not slow down the
  person who owns it.
* **A global cap** of ``global_per_minute`` failed log-ins per minute over all names (a spray of
  one guess at many names). Past the cap, only pairs that have logged in successfully before (the
  real user on their usual machine, ``last_success_at`` within ``remember_success``) may try; the
  others are told to wait until the minute is over.

Neither the typed name (it may be a password typed in the wrong box) nor the address is stored in
clear: a pair is the SHA-256 of both. Every write prunes what no longer matters (pairs with no
failure for ``forget_after`` and no success for ``remember_success``; minute counts older than an
hour), so the tables stay small whatever is typed into the form.

The client address is the TCP peer (``request.client.host``): behind a reverse proxy all clients
share the proxy's address, so the per-pair back-off becomes per-name there.

The rules are here; the rows are read and written through
:class:`marketbridge.ports.PeopleRepository` (``adapters.db.people``: SQL increments and upserts, so
two workers failing at once both count).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from marketbridge.adapters.db.base import utcnow
from marketbridge.ports.people import PeopleRepository

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.core import LoginFailure


def pair_key(name: str, client: str) -> str:
    return hashlib.sha256(f"{name.strip().casefold()}\0{client}".encode()).hexdigest()


def _minute(now: dt.datetime) -> int:
    return int(now.timestamp()) // 60


@dataclass
class LoginThrottle:
    free_failures: int = 5
    base_delay: float = 30.0
    max_delay: float = 900.0
    forget_after: float = 86400.0
    global_per_minute: int = 100
    remember_success: float = 90 * 86400.0

    def wait_for(self, people: PeopleRepository, name: str, client: str,
                 now: dt.datetime | None = None) -> float:
        """Seconds before this pair may try again (0: it may try now)."""
        now = now or utcnow()
        row = people.login_failure(pair_key(name, client))
        wait = 0.0
        if row is not None and row.last_failed_at is not None:
            since = (now - row.last_failed_at).total_seconds()
            if since < self.forget_after and row.failures >= self.free_failures:
                delay = min(self.max_delay, self.base_delay * 2 ** (row.failures - self.free_failures))
                wait = max(0.0, delay - since)
        if wait == 0.0 and self._over_global_cap(people, now) and not self._known_good(row, now):
            wait = 60.0 - now.timestamp() % 60
        return wait

    def _over_global_cap(self, people: PeopleRepository, now: dt.datetime) -> bool:
        failures = people.failures_in_minute(_minute(now))
        return failures is not None and failures >= self.global_per_minute

    def _known_good(self, row: LoginFailure | None, now: dt.datetime) -> bool:
        return (row is not None and row.last_success_at is not None
                and (now - row.last_success_at).total_seconds() < self.remember_success)

    def failed(self, people: PeopleRepository, name: str, client: str,
               now: dt.datetime | None = None) -> None:
        """Count a failure of the pair (from 1 again when its last one is ``forget_after`` old) and
        of this minute, then prune."""
        now = now or utcnow()
        key = pair_key(name, client)
        row = people.login_failure(key)
        stale = row is not None and (
            row.last_failed_at is None or (now - row.last_failed_at).total_seconds() >= self.forget_after)
        people.count_failure(key, _minute(now), now, restart=stale)
        self.prune(people, now)

    def succeeded(self, people: PeopleRepository, name: str, client: str,
                  now: dt.datetime | None = None) -> None:
        now = now or utcnow()
        people.count_success(pair_key(name, client), now)
        self.prune(people, now)

    def prune(self, people: PeopleRepository, now: dt.datetime | None = None) -> int:
        """Delete pairs nobody needs remembered and minute counts older than an hour."""
        now = now or utcnow()
        return people.prune_login_failures(failed_before=now - dt.timedelta(seconds=self.forget_after),
                                           succeeded_before=now - dt.timedelta(seconds=self.remember_success),
                                           minutes_before=_minute(now) - 60)
