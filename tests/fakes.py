"""In-memory fakes of the ports (``marketbridge.ports``) for unit tests of the flows: no database,
no HTTP. Each fake implements the part of its port the flows under test call, and records what
the flow did to it, so a test asserts on decisions, not on SQL or wire traffic.

* :class:`FakeMagento` (``MagentoPort``): shipments (by id, and paged by entity id) and orders by
  id; a missing one is ``NotFound``;
* :class:`FakeMirakl` (``MiraklPort``): the SH21 carrier list (counting the calls, or an error),
  marketplace orders (OR11 by id or state), OR23/OR24 and ST01/ST11, each call logged in ``calls``
  and refused with ``refuse[api]``;
* :class:`FakeShipmentsStore` (``ShipmentsStore``): shipment records, the cached carrier list,
  carrier mappings, the delivery log, poll cursors, a :class:`FakeIssueLog` and
  :class:`FakeOrderRecords`, kept in dicts. A unit of work hands out the
  stored records themselves, so the flow's changes are kept as a committed transaction would
  keep them; the fake does not roll back (no test here relies on a rollback).

The refunds flow's storage fake is in tests/fakes_refunds.py, the audit's in tests/fakes_audit.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from marketbridge.adapters.db.models.shipments import CarrierMapping, ShipmentOut
from marketbridge.adapters.errors import NotFound, RemoteError
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.issues import IssueReport, IssueType
from marketbridge.domain.shipments import ShipmentState


class NoDatabase:
    """Stands for ``runtime.db`` in a unit test: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the flow used the database (runtime.db.{name}) instead of its port")


# --------------------------------------------------------------------------- Adobe Commerce
class FakeMagento:
    def __init__(self) -> None:
        self.shipments: dict[int, magento_models.Shipment] = {}
        self.orders: dict[int, magento_models.Order] = {}
        self.order_reads = 0


    def resolve_stock(self, sales_channel_type: str, sales_channel_code: str) -> magento_models.Stock:
        return magento_models.Stock(stock_id=1, name="Default Stock")
    def add_order(self, order_id: int, ext_order_id: str | None, items: Sequence[dict[str, Any]] = ()) -> None:
        self.orders[order_id] = magento_models.Order.model_validate(
            {"entity_id": order_id, "increment_id": f"10000{order_id}", "ext_order_id": ext_order_id,
             "items": list(items)})

    def add_shipment(self, shipment_id: int, order_id: int, *, tracks: Sequence[dict[str, Any]] = (),
                     items: Sequence[dict[str, Any]] = ()) -> None:
        self.shipments[shipment_id] = magento_models.Shipment.model_validate(
            {"entity_id": shipment_id, "increment_id": f"S{shipment_id}", "order_id": order_id,
             "tracks": list(tracks), "items": list(items)})

    def get_shipment(self, shipment_id: int) -> magento_models.Shipment:
        if shipment_id not in self.shipments:
            raise NotFound(f"shipment {shipment_id} not found", api="GET /V1/shipment/{id}", status=404)
        return self.shipments[shipment_id]

    def get_order(self, order_id: int) -> magento_models.Order:
        self.order_reads += 1
        if order_id not in self.orders:
            raise NotFound(f"order {order_id} not found", api="GET /V1/orders/{id}", status=404)
        return self.orders[order_id]

    def iterate_shipments(self, *, after_entity_id: int | None = None, created_since: dt.datetime | str | None = None,
                          order_id: int | None = None, page_size: int = 100) -> Iterator[magento_models.Shipment]:
        for shipment_id in sorted(self.shipments):
            if after_entity_id is None or shipment_id > after_entity_id:
                yield self.shipments[shipment_id]


# --------------------------------------------------------------------------- Mirakl
class FakeMirakl:
    def __init__(self, carriers: Sequence[shipments_domain.Carrier] = ()) -> None:
        self.sh21 = [mirakl_models.Carrier(code=c.code, label=c.label, standard_code=c.standard_code,
                                           tracking_url=c.tracking_url) for c in carriers]
        self.carrier_calls = 0
        self.error: RemoteError | None = None

        self.orders: dict[str, mirakl_models.Order] = {}
        self.shipments: list[mirakl_models.Shipment] = []
        self.calls: list[tuple[str, Any]] = []  # (api, arguments), in call order
        self.refuse: dict[str, RemoteError] = {}  # api -> the error it answers with

    def add_order(self, order_id: str, state: str = "SHIPPING", *, shipping_deadline: dt.datetime | None = None,
                  lines: Sequence[tuple[str, str, int]] = (("1", "LAMP-1", 1),)) -> mirakl_models.Order:
        """A marketplace order; ``lines`` are (order line id, offer SKU, quantity), all ``state``."""
        created = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
        order = mirakl_models.Order.model_validate({
            "order_id": order_id, "order_state": state, "created_date": created, "last_updated_date": created,
            "shipping_deadline": shipping_deadline, "currency_iso_code": "GBP", "price": 10.0, "total_price": 10.0,
            "order_lines": [{"order_line_id": line_id, "order_line_state": state, "offer_sku": sku, "quantity": qty,
                             "price": 10.0, "total_price": 10.0} for line_id, sku, qty in lines]})
        self.orders[order_id] = order
        return order

    def carriers(self) -> list[mirakl_models.Carrier]:
        self.carrier_calls += 1
        if self.error is not None:
            raise self.error
        return list(self.sh21)

    def list_orders(self, *, order_ids: Sequence[str] | None = None, order_state_codes: Sequence[str] | None = None,
                    **_: Any) -> Iterator[mirakl_models.Order]:
        self.calls.append(("OR11", tuple(order_ids or ())))
        for order in list(self.orders.values()):
            if (order_ids is None or order.order_id in order_ids) and \
                    (order_state_codes is None or order.order_state in order_state_codes):
                yield order

    def get_order(self, order_id: str) -> mirakl_models.Order:
        if order_id not in self.orders:
            raise NotFound(f"order {order_id} not found", api="OR11", status=200)
        return self.orders[order_id]

    def set_state(self, order_id: str, state: str) -> None:
        self.orders[order_id] = self.orders[order_id].model_copy(update={"order_state": state})

    def _answer(self, api: str, *args: Any) -> None:
        self.calls.append((api, args))
        if api in self.refuse:
            raise self.refuse[api]

    def update_tracking(self, order_id: str, tracking: mirakl_models.TrackingRequest) -> None:
        self._answer("OR23", order_id, tracking.carrier_code, tracking.tracking_number)

    def ship_order(self, order_id: str) -> None:
        self._answer("OR24", order_id)
        self.set_state(order_id, "SHIPPED")

    def list_shipments(self, *, order_ids: Sequence[str] = (), states: Sequence[str] = (),
                       limit: int = 100) -> Iterator[mirakl_models.Shipment]:
        self.calls.append(("ST11", tuple(order_ids)))
        yield from (s for s in self.shipments if not order_ids or s.order_id in order_ids)

    def create_shipments(self, request: mirakl_models.CreateShipmentsRequest) -> mirakl_models.CreateShipmentsResponse:
        self._answer("ST01", [(r.order_id, [(line.order_line_id, line.quantity) for line in r.shipment_lines])
                              for r in request.shipments])
        created = []
        for r in request.shipments:
            shipment = mirakl_models.Shipment(
                id=f"MS-{len(self.shipments) + 1}", order_id=r.order_id, status="SHIPPED" if r.shipped else "SHIPPING",
                shipment_lines=[mirakl_models.ShipmentLine(order_line_id=line.order_line_id, quantity=line.quantity,
                                                           package_reference=line.package_reference)
                                for line in r.shipment_lines])
            self.shipments.append(shipment)
            created.append(shipment)
        return mirakl_models.CreateShipmentsResponse(shipment_success=created)

    def api_calls(self, *apis: str) -> list[tuple[str, Any]]:
        return [call for call in self.calls if call[0] in apis]


# --------------------------------------------------------------------------- storage
@dataclass
class IssueEntry:
    report: IssueReport
    state: str = "open"  # open | resolved
    resolved_by: str | None = None
    count: int = 1


class FakeIssueLog:
    """``IssueLog``: one entry per (type, object id), the latest one kept; resolving marks it; the
    activity log as a list."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], IssueEntry] = {}
        self.activity: list[dict[str, Any]] = []  # the activity log (audit_log)

    def record(self, report: IssueReport) -> None:
        key = (report.type.code, report.object_id)
        entry = self.entries.get(key)
        if entry is not None and entry.state == "open":
            entry.report, entry.count = report, entry.count + 1
        else:
            self.entries[key] = IssueEntry(report)

    def clear(self, type_: IssueType, object_id: str, *, by: str = "system") -> None:
        self.resolve(type_, object_id, by=by)

    def audit(self, actor: str, action: str, object_type: str = "", object_id: str = "", **detail: Any) -> None:
        self.activity.append({"actor": actor, "action": action, "object_type": object_type,
                              "object_id": object_id, "detail": detail})

    def resolve(self, type_: IssueType, object_id: str, *, by: str) -> None:
        entry = self.entries.get((type_.code, object_id))
        if entry is not None and entry.state == "open":
            entry.state, entry.resolved_by = "resolved", by

    def active_ids(self, type_: IssueType) -> list[str]:
        return [oid for (code, oid), e in self.entries.items() if code == type_.code and e.state == "open"]

    def resolved_by_a_person(self, type_: IssueType, object_id: str) -> bool:
        entry = self.entries.get((type_.code, object_id))
        return entry is not None and entry.state == "resolved" and entry.resolved_by not in (None, "system")

    def active(self, type_: IssueType, object_id: str) -> IssueReport | None:
        entry = self.entries.get((type_.code, object_id))
        return entry.report if entry is not None and entry.state == "open" else None


class FakeOrderRecords:
    """``OrderRecords``: the orders the orders flow knows (``known``), which it moved to shipped or
    refunded, and the units sold not yet in Adobe Commerce (``sold``)."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.shipped: dict[str, dict[str, Any]] = {}
        self.refunded: dict[str, dict[str, Any]] = {}
        self.sold: dict[str, float] = {}  # units sold on the marketplace, not yet in Adobe Commerce
        self.sold_until_shipped: dict[str, float] = {}  # the same, counting direct-created orders
        self.payloads: dict[str, dict[str, Any]] = {}  # OR11 payloads as the orders flow stored them

    def mark_shipped(self, order_id: str, *, carriers: list[str], tracking_numbers: list[str],
                     at: dt.datetime) -> str | None:
        if order_id not in self.known:
            return f"no marketplace order {order_id}"
        self.shipped[order_id] = {"carriers": carriers, "tracking_numbers": tracking_numbers, "at": at}
        return None

    def mark_refunded(self, order_id: str, *, connection: str, source: str) -> str | None:
        if order_id not in self.known:
            return f"no marketplace order {order_id}"
        self.refunded[order_id] = {"connection": connection, "source": source}
        return None

    def marketplace_payload(self, order_id: str, *, connection: str) -> dict[str, Any] | None:
        return self.payloads.get(order_id)

    def units_sold_not_in_magento(self, skus: Sequence[str], *, until_shipped: bool = False) -> dict[str, float]:
        """``sold`` (Magento SKU -> units), or ``sold_until_shipped`` when asked ``until_shipped``."""
        sold = self.sold_until_shipped if until_shipped else self.sold
        return {sku: units for sku, units in sold.items() if sku in set(skus)}


@dataclass
class FakeShipmentsStore:
    rows: dict[int, ShipmentOut] = field(default_factory=dict)
    carriers: list[shipments_domain.Carrier] = field(default_factory=list)
    refreshed_at: dt.datetime | None = None
    mappings: list[shipments_domain.Mapping_] = field(default_factory=list)  # as if stored before
    mapping_rows: dict[int, CarrierMapping] = field(default_factory=dict)  # stored by the flow, by id
    issues: FakeIssueLog = field(default_factory=FakeIssueLog)
    orders: FakeOrderRecords = field(default_factory=FakeOrderRecords)
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    units: int = 0
    open_units: int = 0  # units of work open now (a remote call must not come while one is)

    def add_row(self, shipment_id: int, order_id: str, *, state: str = ShipmentState.NEW.value,
                tracks: Sequence[dict[str, Any]] = (), tracking_number: str | None = None,
                carrier_key: str | None = None, confirmed: bool = False) -> ShipmentOut:
        """A record as ``detect`` writes it (every column set: no database fills the defaults)."""
        now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
        row = ShipmentOut(
            magento_shipment_id=shipment_id, magento_increment_id=f"S{shipment_id}", magento_order_id=shipment_id * 10,
            marketplace_order_id=order_id, state=state, tracks=list(tracks), items=[], lines={}, results={},
            last_error="", generation=1, attempts=0, tracking_number=tracking_number, carrier_code=None,
            carrier_match=None, carrier_key=carrier_key, marketplace_shipment_id=None, magento_created_at=now,
            detected_at=now, sent_at=None, confirmed_at=now if confirmed else None, updated_at=now)
        self.rows[shipment_id] = row
        return row

    @contextmanager
    def unit_of_work(self) -> Iterator[FakeShipmentsRepository]:
        self.units += 1
        self.open_units += 1
        try:
            yield FakeShipmentsRepository(self)
        finally:
            self.open_units -= 1


class FakeRepository:
    """What every fake flow repository has: the fake store it reads and writes (``store``), and
    that store's issue log as the port's ``issues``. The flows' fakes add their own methods."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def issues(self) -> FakeIssueLog:
        return self.store.issues


class FakeShipmentsRepository(FakeRepository):
    store: FakeShipmentsStore

    @property
    def orders(self) -> FakeOrderRecords:
        return self.store.orders

    def shipment(self, shipment_id: int) -> ShipmentOut | None:
        return self.store.rows.get(shipment_id)

    def add_shipment_if_absent(self, values: Mapping[str, Any]) -> bool:
        if values["magento_shipment_id"] in self.store.rows:
            return False
        columns = {c.name: None for c in ShipmentOut.__table__.columns}  # what the database leaves NULL
        row = ShipmentOut(**{**columns, "updated_at": values["detected_at"], **values})
        self.store.rows[row.magento_shipment_id] = row
        return True

    def cursor(self, name: str) -> str | None:
        return self.store.cursors.get(name)

    def move_cursor(self, name: str, value: str) -> None:
        self.store.cursors[name] = value

    def ids_to_recheck(self, since: dt.datetime) -> list[int]:
        states = (ShipmentState.WAITING_TRACKING.value, ShipmentState.WAITING_CARRIER.value,
                  ShipmentState.PARTIAL.value, ShipmentState.ERROR.value)
        return [r.magento_shipment_id for r in self.store.rows.values() if r.state in states and r.detected_at >= since]

    def due_for_send(self) -> list[tuple[int, int]]:
        return [(r.magento_shipment_id, r.generation) for r in self.store.rows.values()
                if r.state in (ShipmentState.NEW.value, ShipmentState.READY.value)]

    def shipments_of_order(self, order_id: str, *, states: Sequence[str] | None = None,
                           exclude: int | None = None) -> list[ShipmentOut]:
        return [r for r in self.store.rows.values() if r.marketplace_order_id == order_id
                and (states is None or r.state in states) and r.magento_shipment_id != exclude]

    def orders_due_besides(self, order_id: str, limit: int) -> list[str]:
        due = {r.marketplace_order_id for r in self.store.rows.values()
               if r.state in (ShipmentState.NEW.value, ShipmentState.READY.value) and r.marketplace_order_id != order_id}
        return sorted(due)[:limit]

    def record_delivery(self, key: str, api: str, object_id: str, status: str, request: dict[str, Any],
                        error: str = "") -> None:
        entry = self.store.deliveries.setdefault(key, {"api": api, "object_id": object_id, "attempts": 0})
        entry.update(status=status, request=request, last_error=error[:2000])
        entry["attempts"] += 1

    def waiting_for_carrier(self) -> list[ShipmentOut]:
        return [r for r in self.store.rows.values() if r.state == ShipmentState.WAITING_CARRIER.value]

    def ids_waiting_for_carrier_key(self, key: str) -> list[int]:
        return [r.magento_shipment_id for r in self.waiting_for_carrier() if r.carrier_key == key]

    def tracking_used_elsewhere(self, tracking_number: str, order_id: str, shipment_id: int) -> ShipmentOut | None:
        return next((r for r in self.store.rows.values() if r.tracking_number == tracking_number
                     and r.marketplace_order_id != order_id and r.magento_shipment_id != shipment_id), None)

    def open_shipments(self) -> list[ShipmentOut]:
        return [r for r in self.store.rows.values() if r.state in shipments_domain.OPEN_STATES]

    def orders_with_a_shipment(self) -> set[str]:
        return {r.marketplace_order_id for r in self.store.rows.values()}

    def cached_carriers(self) -> list[shipments_domain.Carrier]:
        return sorted(self.store.carriers, key=lambda c: c.label)

    def carriers_refreshed_at(self) -> dt.datetime | None:
        return self.store.refreshed_at if self.store.carriers else None

    def replace_carriers(self, carriers: Sequence[shipments_domain.Carrier], at: dt.datetime) -> None:
        self.store.carriers, self.store.refreshed_at = list(carriers), at

    def carrier_mappings(self) -> list[shipments_domain.Mapping_]:
        return list(self.store.mappings) + [
            shipments_domain.Mapping_(r.magento_carrier_code, r.title_key, r.marketplace_code)
            for r in self.store.mapping_rows.values()]

    def carrier_mapping(self, magento_carrier_code: str, title_key: str) -> CarrierMapping | None:
        return next((r for r in self.store.mapping_rows.values()
                     if (r.magento_carrier_code, r.title_key) == (magento_carrier_code, title_key)), None)

    def carrier_mapping_by_id(self, mapping_id: int) -> CarrierMapping | None:
        return self.store.mapping_rows.get(mapping_id)

    def add_carrier_mapping(self, row: CarrierMapping) -> None:
        row.id = max(self.store.mapping_rows, default=0) + 1
        self.store.mapping_rows[row.id] = row

    def delete_carrier_mapping(self, row: CarrierMapping) -> None:
        del self.store.mapping_rows[row.id]

    def carrier_mapping_rows(self) -> list[CarrierMapping]:
        return sorted(self.store.mapping_rows.values(), key=lambda r: (r.magento_carrier_code, r.title_key))

    def list_shipments(self, *, state: str | None = None, order_id: str | None = None,
                       limit: int = 200, offset: int = 0) -> list[ShipmentOut]:
        rows = [r for r in self.store.rows.values()
                if (not state or r.state == state) and (not order_id or r.marketplace_order_id == order_id)]
        rows.sort(key=lambda r: (r.detected_at, r.magento_shipment_id), reverse=True)
        return rows[offset:offset + limit]

    def count_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.store.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def shipments_by_ids(self, ids: Iterable[int]) -> list[ShipmentOut]:
        return [self.store.rows[i] for i in ids if i in self.store.rows]
