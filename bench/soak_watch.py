"""What the soak watches while it runs and drains (used by ``bench/soak.py``).

* :class:`Disturbances`: the fault windows and worker outages (SIGKILL to ready again), as
  wall-clock intervals. Time inside them is excused: a change cannot reach the marketplace while
  the APIs fail on purpose or no worker listens.
* :class:`OversellWatch`: per SKU, the episodes in which the marketplace offer stood ABOVE what
  Adobe Commerce and the channel rules allow. An episode runs from the first sample that sees the
  offer above to the first sample that no longer does (so a measure is good to one sampling
  interval either way); its length is what lies outside the disturbances. An offer above Magento
  between a Magento decrease and the next push is expected: the target says how long that may
  last (two stock windows plus processing), and the longest episode is judged against it.
* :class:`Sampler`: the thread that reads the three sides every few seconds (after the customer
  cancellations not yet known, see :func:`restored_units`): the offer quantities
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

    def outside(self, start: float, end: float) -> float:
        """Seconds of ``[start, end]`` outside every window (an open window counts up to ``end``)."""
        spans = sorted((max(s, start), min(e if e is not None else end, end))
                       for s, e, _ in self.windows())
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

    def describe(self) -> str:
        end = clock(self.ended) if self.ended is not None else "still above"
        return (f"{self.sku!r} above from {clock(self.first_seen)} to {end}: {self.measured:.1f} s outside "
                f"faults and outages ({(self.ended or self.last_over) - self.first_seen:.1f} s in all), "
                f"offer {self.offer} against {self.allowed} allowed (worst +{self.worst})")


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
        end = at if at is not None else episode.last_over
        episode.measured = self.disturbances.outside(episode.first_seen, end)
        self.closed.append(episode)

    def finish(self, at: float | None = None) -> None:
        """Close what is still above, measured up to ``at`` (the final check's time)."""
        for sku in list(self.open):
            episode = self.open.pop(sku)
            episode.measured = self.disturbances.outside(episode.first_seen, at or episode.last_over)
            self.closed.append(episode)

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

    def allowed(self, offer_skus: Iterable[str], salable: dict[str, float], held: dict[str, float],
                restored: dict[str, int] | None = None) -> dict[str, int]:
        """``restored``: units Mirakl put back for cancellations not yet known (:func:`restored_units`),
        by Magento SKU, allowed on top."""
        from marketbridge.domain.stock import publishable_quantity

        restored = restored or {}

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
            out[offer_sku] += restored.get(sku, 0)
        return out


class Sampler(threading.Thread):
    """Samples the three sides every ``interval`` seconds until stopped; also closes the outage of a
    restarted worker once it answers ``/healthz`` again."""

    def __init__(self, *, magento_url: str, mirakl_url: str, database_url: str, allowance: Allowance,
                 watch: OversellWatch, interval: float,
                 cancelled: Callable[[], dict[str, list[str]]] = dict) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.magento_url, self.mirakl_url, self.database_url = magento_url, mirakl_url, database_url
        self.cancelled = cancelled  # the customer cancellations so far: order id -> SKUs
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
                    restored = restored_units(db, self.cancelled())
                    at = time.time()
                    offers = {sku: int(qty or 0) for sku, qty in
                              http.get(f"{self.mirakl_url}/_sandbox/offer-quantities").json().items()}
                    salable = {sku: float(qty) for sku, qty in
                               http.get(f"{self.magento_url}/_sandbox/salable-quantities").json().items()}
                    skus = sorted({self.allowance.links.get(sku, sku) for sku in offers})
                    held = held_units(db, skus, until_shipped=self.allowance.until_shipped)
                    self.watch.observe(at, offers, self.allowance.allowed(offers, salable, held, restored))
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
def restored_units(db: Any, cancelled: dict[str, list[str]]) -> dict[str, int]:
    """Per SKU, the units of customer cancellations that Mirakl has put back on the offer and our
    database has not recorded yet (``cancelled``: order id -> its SKUs, one unit each).

    Mirakl restores a cancelled order's units at once, while Adobe Commerce keeps the reservation
    (and our database the units it holds back) until the order feed brings the cancellation in.
    The offer then stands above Magento's figure by exactly those units, which exist: the order
    will not ship. That is the order feed's latency (OR11, issue 20), reported apart
    (:func:`cancellation_lags`); the stock flow is still judged on everything else. Read before
    the three sides: a cancellation recorded by then has its reservation released before too."""
    from sqlalchemy import select

    from marketbridge.adapters.db.models.orders import MarketplaceOrder

    if not cancelled:
        return {}
    with db.session() as session:
        known = set(session.scalars(select(MarketplaceOrder.order_id).where(
            MarketplaceOrder.order_id.in_(list(cancelled)), MarketplaceOrder.state.in_(("cancelled", "closed")))))
    out: dict[str, int] = {}
    for order_id, skus in cancelled.items():
        if order_id not in known:
            for sku in skus:
                out[sku] = out.get(sku, 0) + 1
    return out


@dataclass
class Cancellation:
    order_id: str
    at: float  # when the customer cancelled on the marketplace
    known: float | None  # when our database recorded it (None: not by the check)


def cancellation_lags(database_url: str, cancelled_at: dict[str, float]) -> list[Cancellation]:
    """Each customer cancellation with when our database first recorded it cancelled."""
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
    return [Cancellation(order_id, at, known.get(order_id))
            for order_id, at in sorted(cancelled_at.items(), key=lambda item: item[1])]


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
