"""What the soak watches while it runs and drains (used by ``bench/soak.py``).

* :class:`Disturbances`: the fault windows and worker outages (SIGKILL to ready again), as
  wall-clock intervals. Time inside them is excused: a change cannot reach the marketplace while
  the APIs fail on purpose or no worker listens.
* :class:`OversellWatch`: per SKU, the episodes in which the marketplace offer stood ABOVE what
  Adobe Commerce and the channel rules allow. An episode runs from the first sample that sees the
  offer above to the first sample that no longer does (so a measure is good to one sampling
  interval either way); its length is what lies outside the disturbances. An offer above Magento
  between a Magento decrease and the next push is expected: the target says how long that may
  last (two stock windows plus processing), and the longest episode is judged against it. A SKU
  can have its own excused windows (:meth:`OversellWatch.excuse`): a customer cancellation not yet
  known to the service (:func:`cancellations_not_yet_known`).
* :class:`Sampler`: the thread that reads the three sides every few seconds: the offer quantities
  (Mirakl simulator control API), Magento's salable quantities (Magento simulator control API) and
  the units our database holds back (sold on the marketplace, not yet in Adobe Commerce), in that
  order, so that a sample cannot invent an episode: a push that raises the offer follows a Magento
  increase (read after it), and a marketplace sale lowers the offer before our database holds the
  unit (read after it).
* :func:`in_flight`: what the service has not finished yet (shipments, credit memos, stock), each
  with its age, for the drain to wait on and the checker to report apart from what is wrong.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx2


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 10) % 10}"


# ------------------------------------------------------------------ disturbances
class Disturbances:
    """Wall-clock intervals ``[start, end)``; an open one (end None) lasts until it is closed."""

    def __init__(self) -> None:
        self._windows: list[list[Any]] = []  # [start, end | None, label]
        self._lock = threading.Lock()

    def open(self, label: str, at: float | None = None) -> int:
        with self._lock:
            self._windows.append([time.time() if at is None else at, None, label])
            return len(self._windows) - 1

    def close(self, token: int, at: float | None = None) -> None:
        with self._lock:
            if self._windows[token][1] is None:
                self._windows[token][1] = time.time() if at is None else at

    def add(self, label: str, start: float, end: float) -> None:
        with self._lock:
            self._windows.append([start, end, label])

    def windows(self) -> list[tuple[float, float | None, str]]:
        with self._lock:
            return [(s, e, label) for s, e, label in self._windows]

    def quiet(self, at: float | None = None) -> bool:
        at = time.time() if at is None else at
        return not any(s <= at and (e is None or at < e) for s, e, _ in self.windows())

    def outside(self, start: float, end: float, extra: Iterable[tuple[float, float | None, str]] = ()) -> float:
        """Seconds of ``[start, end]`` outside every window (an open window counts up to ``end``),
        and outside the ``extra`` windows too (one SKU's own, see :meth:`OversellWatch.excuse`)."""
        spans = sorted((max(s, start), min(e if e is not None else end, end))
                       for s, e, _ in [*self.windows(), *extra])
        covered, cursor = 0.0, start
        for s, e in spans:
            s = max(s, cursor)
            if e <= s:
                continue
            covered += e - s
            cursor = e
        return max(0.0, (end - start) - covered)

    def summary(self) -> str:
        windows = self.windows()
        kinds: dict[str, float] = {}
        for s, e, label in windows:
            kind = label.split(" ")[0]
            kinds[kind] = kinds.get(kind, 0.0) + ((e if e is not None else time.time()) - s)
        return ", ".join(f"{k} {v:.0f} s" for k, v in sorted(kinds.items())) or "none"


# ------------------------------------------------------------------ oversell episodes
@dataclass
class Episode:
    sku: str
    first_seen: float
    last_over: float
    offer: int
    allowed: int
    worst: int  # largest offer - allowed seen
    ended: float | None = None  # the first sample no longer above (None: still above)
    measured: float = 0.0  # seconds outside the disturbances
    until: float = 0.0  # the end it was measured to (``ended``, or the final check's time)
    excused: list[str] = field(default_factory=list)  # this SKU's own excused windows that overlap it

    def describe(self) -> str:
        end = clock(self.ended) if self.ended is not None else "still above"
        excused = f"; excused: {'; '.join(self.excused)}" if self.excused else ""
        return (f"{self.sku!r} above from {clock(self.first_seen)} to {end}: {self.measured:.1f} s outside "
                f"faults and outages ({(self.ended or self.last_over) - self.first_seen:.1f} s in all), "
                f"offer {self.offer} against {self.allowed} allowed (worst +{self.worst}){excused}")


@dataclass
class OversellWatch:
    disturbances: Disturbances
    open: dict[str, Episode] = field(default_factory=dict)
    closed: list[Episode] = field(default_factory=list)
    samples: int = 0
    last_sample: float | None = None

    def observe(self, at: float, offers: dict[str, int], allowed: dict[str, int]) -> None:
        """One sample: ``offers`` and ``allowed`` by offer SKU (SKUs absent from ``allowed`` are not
        judged, e.g. an offer with no Magento product)."""
        self.samples += 1
        self.last_sample = at
        above = {sku: (qty, allowed[sku]) for sku, qty in offers.items() if sku in allowed and qty > allowed[sku]}
        for sku, (qty, limit) in above.items():
            episode = self.open.get(sku)
            if episode is None:
                self.open[sku] = Episode(sku, at, at, qty, limit, qty - limit)
            else:
                episode.last_over, episode.offer, episode.allowed = at, qty, limit
                episode.worst = max(episode.worst, qty - limit)
        for sku in [s for s in self.open if s not in above]:
            self._close(self.open.pop(sku), at)

    def _close(self, episode: Episode, at: float | None) -> None:
        episode.ended = at
        episode.until = at if at is not None else episode.last_over
        episode.measured = self.disturbances.outside(episode.first_seen, episode.until)
        self.closed.append(episode)

    def finish(self, at: float | None = None) -> None:
        """Close what is still above, measured up to ``at`` (the final check's time)."""
        for sku in list(self.open):
            episode = self.open.pop(sku)
            episode.until = at or episode.last_over
            episode.measured = self.disturbances.outside(episode.first_seen, episode.until)
            self.closed.append(episode)

    def excuse(self, by_sku: dict[str, list[tuple[float, float, str]]]) -> None:
        """Measure the closed episodes again, each also outside its own SKU's windows ``(start, end,
        label)``: the time before the service could know of a change made on the marketplace side
        (see :func:`cancellations_not_yet_known`). Call after :meth:`finish`."""
        for episode in self.closed:
            own = [w for w in by_sku.get(episode.sku, []) if w[0] < episode.until and w[1] > episode.first_seen]
            episode.measured = self.disturbances.outside(episode.first_seen, episode.until, own)
            episode.excused = [label for _, _, label in own]

    def worst(self, n: int = 5) -> list[Episode]:
        return sorted(self.closed, key=lambda e: e.measured, reverse=True)[:n]

    @property
    def max_seconds(self) -> float:
        return max((e.measured for e in self.closed), default=0.0)


# ------------------------------------------------------------------ the three sides
def held_units(db: Any, skus: list[str], *, until_shipped: bool) -> dict[str, float]:
    """The units our database holds back per Magento SKU, read as the stock flow reads them."""
    from marketbridge.adapters.db.orders import SqlOrdersRepository
    from marketbridge.services.orders.queries import units_sold_not_in_magento

    with db.session() as session:
        return units_sold_not_in_magento(SqlOrdersRepository(session), skus, until_shipped=until_shipped)


def watched(samples: int, missed: int, max_missed_share: float) -> bool:
    """Whether the sampler saw enough of the run for its longest episode to be a verdict."""
    tried = samples + missed
    return tried > 0 and missed <= max_missed_share * tried


@dataclass
class Allowance:
    """What the channel rules allow per offer SKU, from Magento's salable quantity and the units our
    database holds back, exactly as the flow computes its target (``services.stock.apply``)."""

    links: dict[str, str]  # offer SKU -> Magento SKU
    facts: dict[str, Any]  # Magento SKU -> domain ProductFacts (read once: the soak changes prices only)
    rules: list[Any]
    unmanaged_default: int
    until_shipped: bool

    def allowed(self, offer_skus: Iterable[str], salable: dict[str, float], held: dict[str, float]) -> dict[str, int]:
        from marketbridge.domain.stock import publishable_quantity

        out: dict[str, int] = {}
        for offer_sku in offer_skus:
            sku = self.links.get(offer_sku, offer_sku)
            facts = self.facts.get(sku)
            if facts is None:
                continue
            quantity: float | None = None
            if facts.manage_stock:
                if sku not in salable:
                    continue
                quantity = salable[sku] - held.get(sku, 0.0)
            out[offer_sku], _ = publishable_quantity(quantity, facts, self.rules, unmanaged_default=self.unmanaged_default)
        return out


class Sampler(threading.Thread):
    """Samples the three sides every ``interval`` seconds until stopped; also closes the outage of a
    restarted worker once it answers ``/healthz`` again."""

    def __init__(self, *, magento_url: str, mirakl_url: str, database_url: str, allowance: Allowance,
                 watch: OversellWatch, interval: float) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.magento_url, self.mirakl_url, self.database_url = magento_url, mirakl_url, database_url
        self.allowance, self.watch, self.interval = allowance, watch, interval
        self.errors = 0
        self.first_error: str | None = None
        self.sweep_seconds: list[float] = []
        self._halt = threading.Event()
        self._restarting: list[tuple[str, int]] = []  # (health URL, disturbance token)
        self._lock = threading.Lock()

    def await_ready(self, health_url: str, token: int) -> None:
        with self._lock:
            self._restarting.append((health_url, token))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def run(self) -> None:
        from marketbridge.adapters.db.session import Database

        db = Database(self.database_url)
        with httpx2.Client(timeout=10) as http:
            while not self._halt.is_set():
                started = time.monotonic()
                self._check_restarts(http)
                try:
                    at = time.time()
                    offers = {sku: int(qty or 0) for sku, qty in
                              http.get(f"{self.mirakl_url}/_sandbox/offer-quantities").json().items()}
                    salable = {sku: float(qty) for sku, qty in
                               http.get(f"{self.magento_url}/_sandbox/salable-quantities").json().items()}
                    skus = sorted({self.allowance.links.get(sku, sku) for sku in offers})
                    held = held_units(db, skus, until_shipped=self.allowance.until_shipped)
                    self.watch.observe(at, offers, self.allowance.allowed(offers, salable, held))
                except Exception as error:  # noqa: BLE001 - a missed sample is a gap; too many void the verdict
                    self.errors += 1
                    if self.first_error is None:
                        self.first_error = repr(error)[:300]
                self.sweep_seconds.append(time.monotonic() - started)
                self._halt.wait(max(0.0, self.interval - (time.monotonic() - started)))
        db.dispose()

    def _check_restarts(self, http: httpx2.Client) -> None:
        with self._lock:
            waiting = list(self._restarting)
        for url, token in waiting:
            with contextlib.suppress(httpx2.HTTPError):
                if http.get(url, timeout=1).status_code < 500:
                    self.watch.disturbances.close(token)
                    with self._lock:
                        self._restarting.remove((url, token))


# ------------------------------------------------------------------ marketplace-side changes
@dataclass
class Cancellation:
    order_id: str
    skus: list[str]
    at: float  # when the customer cancelled on the marketplace
    known: float | None  # when our database recorded it (None: not by the check)

    def window(self, until: float) -> tuple[float, float, str]:
        end = self.known if self.known is not None else until
        return (self.at, end, f"order {self.order_id} cancelled on the marketplace {end - self.at:.1f} s "
                              f"before the service knew ({'not by the check' if self.known is None else 'order feed'})")


def cancellations_not_yet_known(database_url: str, cancelled_at: dict[str, float],
                                order_skus: dict[str, list[str]]) -> list[Cancellation]:
    """The customer cancellations, each with when our service recorded it.

    Mirakl puts a cancelled order's units back on the offer at once, while Adobe Commerce keeps the
    order's reservation (and our database the units it holds back) until the order feed brings the
    cancellation in. The offer then stands one unit above Magento's figure, though the unit exists:
    the order will not ship. That stretch is the order feed's latency (OR11, issue 20), not the
    stock flow's: the watch excuses it per SKU and the soak reports it apart. From the moment the
    service knows, the stock flow is judged again."""
    from sqlalchemy import select

    from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderTransition
    from marketbridge.adapters.db.session import Database

    known: dict[str, float] = {}
    db = Database(database_url)
    try:
        with db.session() as session:
            for order_id, at in session.execute(
                    select(MarketplaceOrder.order_id, OrderTransition.at)
                    .join(OrderTransition, OrderTransition.order_pk == MarketplaceOrder.id)
                    .where(MarketplaceOrder.order_id.in_(list(cancelled_at)), OrderTransition.to_state == "cancelled")):
                stamp = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()
                known[order_id] = min(stamp, known.get(order_id, stamp))
    finally:
        db.dispose()
    return [Cancellation(order_id, list(order_skus.get(order_id, ())), at, known.get(order_id))
            for order_id, at in sorted(cancelled_at.items(), key=lambda item: item[1])]


def excused_windows(cancellations: Iterable[Cancellation], until: float) -> dict[str, list[tuple[float, float, str]]]:
    out: dict[str, list[tuple[float, float, str]]] = {}
    for cancellation in cancellations:
        for sku in cancellation.skus:
            out.setdefault(sku, []).append(cancellation.window(until))
    return out


# ------------------------------------------------------------------ what is still in flight
@dataclass
class InFlight:
    kind: str  # shipment | refund | stock
    what: str
    age: float  # seconds since it started (Magento side, or when our service noticed it)

    def describe(self) -> str:
        return f"{self.kind} {self.what}, {self.age:.0f} s"


def _age(now: dt.datetime, then: dt.datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max(0.0, (now - then).total_seconds())


def in_flight(database_url: str, *, shipped: dict[str, float], confirmed: Callable[[str], bool],
              memos: dict[int, tuple[str, float]]) -> list[InFlight]:
    """Everything not settled yet, oldest first.

    ``shipped``: marketplace order id -> when the warehouse shipped it in Magento; ``confirmed(id)``
    says whether the marketplace shows it shipped with its tracking. ``memos``: credit memo id ->
    (order id, when the warehouse made it). Stock: hints not yet read, outbox values not yet sent or
    in flight, batches not finished, webhook deliveries stored but not dispatched.
    """
    from sqlalchemy import or_, select

    from marketbridge.adapters.db.models.refunds import RefundOut
    from marketbridge.adapters.db.models.shipments import ShipmentOut
    from marketbridge.adapters.db.models.stock import StockHint, SyncBatch, SyncOutbox, WebhookEvent
    from marketbridge.adapters.db.session import Database

    now_wall, now = time.time(), dt.datetime.now(dt.UTC)
    out: list[InFlight] = []
    db = Database(database_url)
    try:
        with db.session() as session:
            rows = {r.marketplace_order_id: r for r in session.scalars(select(ShipmentOut)).all()}
            for order_id, at in shipped.items():
                if confirmed(order_id):
                    continue
                row = rows.get(order_id)
                state = f"{row.state}, {row.attempts} attempt(s)" if row is not None else "not detected yet"
                out.append(InFlight("shipment", f"{order_id} ({state})", now_wall - at))
            refunds = {r.creditmemo_id: r for r in session.scalars(select(RefundOut)).all()}
            for memo_id, (order_id, at) in memos.items():
                row = refunds.get(memo_id)
                if row is None:
                    out.append(InFlight("refund", f"memo {memo_id} of {order_id} (not detected yet)", now_wall - at))
                elif row.status not in ("refunded", "ignored", "held"):
                    out.append(InFlight("refund", f"memo {memo_id} of {order_id} ({row.status})", now_wall - at))
            for hint in session.scalars(select(StockHint)).all():
                out.append(InFlight("stock", f"hint {hint.sku!r} ({hint.reason}) not read", _age(now, hint.first_noticed_at)))
            for row in session.scalars(select(SyncOutbox).where(or_(SyncOutbox.pending_value.is_not(None),
                                                                  SyncOutbox.inflight_batch_id.is_not(None)))).all():
                if row.inflight_batch_id is not None:
                    out.append(InFlight("stock", f"{row.kind} {row.sku!r} in batch {row.inflight_batch_id}",
                                        _age(now, row.inflight_first_noticed_at)))
                if row.pending_value is not None:
                    out.append(InFlight("stock", f"{row.kind} {row.sku!r} = {row.pending_value} waiting for a window",
                                        _age(now, row.pending_first_noticed_at)))
            for batch in session.scalars(select(SyncBatch).where(SyncBatch.state.in_(("claimed", "sent")))).all():
                out.append(InFlight("stock", f"batch {batch.id} ({batch.api}, {batch.state}, {batch.sku_count} SKUs)",
                                    _age(now, batch.created_at)))
            for event in session.scalars(select(WebhookEvent).where(WebhookEvent.handled_at.is_(None))).all():
                out.append(InFlight("stock", f"webhook {event.id} {event.event_name} not dispatched",
                                    _age(now, event.received_at)))
    finally:
        db.dispose()
    return sorted(out, key=lambda item: item.age, reverse=True)


def summarise(items: list[InFlight]) -> str:
    by_kind: dict[str, list[InFlight]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    return "; ".join(f"{kind} {len(group)} (oldest {group[0].age:.0f} s)" for kind, group in sorted(by_kind.items())) or "nothing"
