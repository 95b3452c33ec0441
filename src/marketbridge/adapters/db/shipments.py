"""The shipments flow's storage over SQLAlchemy: :class:`SqlShipmentsStore` implements
:class:`marketbridge.ports.ShipmentsStore` (issue 18 item 2), so the queries on ``shipments_out``,
``marketplace_carriers`` and ``carrier_mappings`` that the flow's decisions need are written here
and nowhere in the flow. One unit of work is one :meth:`Database.session` (committed at the end of
the block, rolled back on an error), exactly the transaction the flow opened itself before.

The issue records the flow raises and the order records it moves to shipped go through the
:class:`marketbridge.ports.IssueLog` and :class:`marketbridge.ports.OrderRecords` the composition
root hands in (``services.issues.RepositoryIssueLog``, ``services.orders.record.RepositoryOrderRecords``),
on the same session: their rules live in the services, and this adapter does not import them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.cursors import StreamCursors
from marketbridge.adapters.db.insert import dialect_insert
from marketbridge.adapters.db.models.core import Delivery
from marketbridge.adapters.db.models.shipments import CarrierMapping, MarketplaceCarrier, ShipmentOut
from marketbridge.adapters.db.session import Database
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.shipments import ShipmentState
from marketbridge.ports import IssueLog, OrderRecords


class SqlShipmentsRepository(StreamCursors):
    """:class:`marketbridge.ports.ShipmentsRepository` on one session."""

    def __init__(self, session: Session, issues: IssueLog, orders: OrderRecords) -> None:
        self.session = session
        self._issues = issues
        self._orders = orders

    @property
    def issues(self) -> IssueLog:
        return self._issues

    @property
    def orders(self) -> OrderRecords:
        return self._orders

    def add_shipment_if_absent(self, values: Mapping[str, Any]) -> bool:
        # an INSERT's result is a CursorResult (rowcount: 0 when the row was already there)
        inserted = cast(CursorResult[Any], self.session.execute(
            dialect_insert(self.session, ShipmentOut).values(**values)
            .on_conflict_do_nothing(index_elements=["magento_shipment_id"]))).rowcount
        return bool(inserted)

    def ids_to_recheck(self, since: dt.datetime) -> list[int]:
        return list(self.session.scalars(select(ShipmentOut.magento_shipment_id).where(
            ShipmentOut.state.in_([ShipmentState.WAITING_TRACKING.value, ShipmentState.WAITING_CARRIER.value,
                                   ShipmentState.PARTIAL.value, ShipmentState.ERROR.value]),
            ShipmentOut.detected_at >= since)).all())

    def due_for_send(self) -> list[tuple[int, int]]:
        rows = self.session.execute(select(ShipmentOut.magento_shipment_id, ShipmentOut.generation).where(
            ShipmentOut.state.in_([ShipmentState.NEW.value, ShipmentState.READY.value]))).all()
        return [(int(i), int(g)) for i, g in rows]

    def shipments_of_order(self, order_id: str, *, states: Sequence[str] | None = None,
                           exclude: int | None = None) -> Sequence[ShipmentOut]:
        query = select(ShipmentOut).where(ShipmentOut.marketplace_order_id == order_id)
        if exclude is not None:
            query = query.where(ShipmentOut.magento_shipment_id != exclude)
        if states is not None:
            query = query.where(ShipmentOut.state.in_(list(states)))
        return self.session.scalars(query).all()

    def orders_due_besides(self, order_id: str, limit: int) -> list[str]:
        return list(self.session.scalars(select(ShipmentOut.marketplace_order_id).where(
            ShipmentOut.state.in_([ShipmentState.NEW.value, ShipmentState.READY.value]),
            ShipmentOut.marketplace_order_id != order_id).distinct().limit(limit)).all())

    def record_delivery(self, key: str, api: str, object_id: str, status: str, request: dict[str, Any],
                        error: str = "") -> None:
        row = self.session.scalars(select(Delivery).where(Delivery.key == key)).first()
        if row is None:
            row = Delivery(key=key, api=api, object_id=object_id, status=status, attempts=0, request=request,
                           response={}, last_error="")
            self.session.add(row)
        row.status = status
        row.attempts = (row.attempts or 0) + 1
        row.last_error = error[:2000]
        row.request = request

    def shipment(self, shipment_id: int) -> ShipmentOut | None:
        return self.session.get(ShipmentOut, shipment_id)

    def waiting_for_carrier(self) -> Sequence[ShipmentOut]:
        return self.session.scalars(select(ShipmentOut).where(
            ShipmentOut.state == ShipmentState.WAITING_CARRIER.value)).all()

    def ids_waiting_for_carrier_key(self, key: str) -> list[int]:
        return list(self.session.scalars(select(ShipmentOut.magento_shipment_id).where(
            ShipmentOut.carrier_key == key, ShipmentOut.state == ShipmentState.WAITING_CARRIER.value)).all())

    def tracking_used_elsewhere(self, tracking_number: str, order_id: str, shipment_id: int) -> ShipmentOut | None:
        return self.session.scalars(select(ShipmentOut).where(
            ShipmentOut.tracking_number == tracking_number,
            ShipmentOut.marketplace_order_id != order_id,
            ShipmentOut.magento_shipment_id != shipment_id)).first()

    def open_shipments(self) -> Sequence[ShipmentOut]:
        return self.session.scalars(select(ShipmentOut).where(
            ShipmentOut.state.in_(shipments_domain.OPEN_STATES))).all()

    def orders_with_a_shipment(self) -> set[str]:
        return set(self.session.scalars(select(ShipmentOut.marketplace_order_id).distinct()).all())

    def cached_carriers(self) -> list[shipments_domain.Carrier]:
        rows = self.session.scalars(select(MarketplaceCarrier).order_by(MarketplaceCarrier.label)).all()
        return [shipments_domain.Carrier(r.code, r.label, r.standard_code, r.tracking_url) for r in rows]

    def carriers_refreshed_at(self) -> dt.datetime | None:
        return self.session.scalars(select(MarketplaceCarrier.refreshed_at).limit(1)).first()

    def replace_carriers(self, carriers: Sequence[shipments_domain.Carrier], at: dt.datetime) -> None:
        self.session.execute(delete(MarketplaceCarrier))
        for carrier in carriers:
            self.session.add(MarketplaceCarrier(code=carrier.code, label=carrier.label,
                                                standard_code=carrier.standard_code,
                                                tracking_url=carrier.tracking_url, refreshed_at=at))

    def carrier_mapping(self, magento_carrier_code: str, title_key: str) -> CarrierMapping | None:
        return self.session.scalars(select(CarrierMapping).where(
            CarrierMapping.magento_carrier_code == magento_carrier_code, CarrierMapping.title_key == title_key)).first()

    def carrier_mapping_by_id(self, mapping_id: int) -> CarrierMapping | None:
        return self.session.get(CarrierMapping, mapping_id)

    def add_carrier_mapping(self, row: CarrierMapping) -> None:
        self.session.add(row)
        self.session.flush()

    def delete_carrier_mapping(self, row: CarrierMapping) -> None:
        self.session.delete(row)

    def list_shipments(self, *, state: str | None = None, order_id: str | None = None,
                       limit: int = 200, offset: int = 0) -> Sequence[ShipmentOut]:
        query = select(ShipmentOut)
        if state:
            query = query.where(ShipmentOut.state == state)
        if order_id:
            query = query.where(ShipmentOut.marketplace_order_id == order_id)
        query = query.order_by(ShipmentOut.detected_at.desc(), ShipmentOut.magento_shipment_id.desc())
        return self.session.scalars(query.limit(limit).offset(offset)).all()

    def count_by_state(self) -> dict[str, int]:
        return {state: int(n) for state, n in self.session.execute(
            select(ShipmentOut.state, func.count()).group_by(ShipmentOut.state)).all()}

    def shipments_by_ids(self, ids: Iterable[int]) -> Sequence[ShipmentOut]:
        return self.session.scalars(select(ShipmentOut).where(ShipmentOut.magento_shipment_id.in_(list(ids)))).all()

    def carrier_mapping_rows(self) -> Sequence[CarrierMapping]:
        return self.session.scalars(select(CarrierMapping).order_by(CarrierMapping.magento_carrier_code,
                                                                    CarrierMapping.title_key)).all()

    def carrier_mappings(self) -> list[shipments_domain.Mapping_]:
        return [shipments_domain.Mapping_(r.magento_carrier_code, r.title_key, r.marketplace_code)
                for r in self.session.scalars(select(CarrierMapping)).all()]


class SqlShipmentsStore:
    """:class:`marketbridge.ports.ShipmentsStore` on a :class:`Database`; ``issues`` and ``orders``
    make the issue log and the order records of a session."""

    def __init__(self, db: Database, issues: Callable[[Session], IssueLog],
                 orders: Callable[[Session], OrderRecords]) -> None:
        self.db = db
        self._issues = issues
        self._orders = orders

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlShipmentsRepository]:
        with self.db.session() as session:
            yield SqlShipmentsRepository(session, self._issues(session), self._orders(session))
