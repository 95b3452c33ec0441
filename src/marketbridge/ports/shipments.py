"""The shipments flow's storage port (implemented in :mod:`marketbridge.adapters.db.shipments`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from marketbridge.ports.shared import IssueLog, OrderRecords

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.shipments import CarrierMapping, ShipmentOut
    from marketbridge.domain import shipments as shipments_domain



class ShipmentsRepository(Protocol):
    """What the shipments flow reads and writes in one unit of work: its shipment records, the
    cached SH21 carrier list, people's carrier mappings, its delivery log, and through the other
    ports the issue records it raises and the order records it moves to shipped."""

    @property
    def issues(self) -> IssueLog: ...

    @property
    def orders(self) -> OrderRecords: ...

    def shipment(self, shipment_id: int) -> ShipmentOut | None:
        """The record of one Magento shipment (changes to it are kept by the unit of work)."""
        ...

    def waiting_for_carrier(self) -> Sequence[ShipmentOut]:
        """Every shipment waiting for a carrier mapping."""
        ...

    def ids_waiting_for_carrier_key(self, key: str) -> list[int]:
        """The shipments waiting for a mapping of this carrier key."""
        ...

    def tracking_used_elsewhere(self, tracking_number: str, order_id: str, shipment_id: int) -> ShipmentOut | None:
        """A shipment of another marketplace order that carries this tracking number, if any."""
        ...

    def add_shipment_if_absent(self, values: Mapping[str, Any]) -> bool:
        """Insert the record of a newly seen shipment (``values`` by column) unless one with its id
        is already there (the poll and a webhook may find it at the same moment); True when this
        call inserted it."""
        ...

    def cursor(self, name: str) -> str | None:
        """Where a poll of the flow stopped last (a stream cursor); None before its first run."""
        ...

    def move_cursor(self, name: str, value: str) -> None: ...

    def ids_to_recheck(self, since: datetime) -> list[int]:
        """Shipments detected since ``since`` that wait for tracking or a carrier, or are partial or
        in error: Magento may have added a track since (it does not change their ``updated_at``)."""
        ...

    def due_for_send(self) -> list[tuple[int, int]]:
        """(shipment id, generation) of every shipment a send should run for: new or ready."""
        ...

    def shipments_of_order(self, order_id: str, *, states: Sequence[str] | None = None,
                           exclude: int | None = None) -> Sequence[ShipmentOut]:
        """The shipments of one marketplace order (in ``states`` when given, but ``exclude``)."""
        ...

    def orders_due_besides(self, order_id: str, limit: int) -> list[str]:
        """Up to ``limit`` other marketplace orders with a shipment due (new or ready)."""
        ...

    def record_delivery(self, key: str, api: str, object_id: str, status: str, request: dict[str, Any],
                        error: str = "") -> None:
        """Write one call to the marketplace to the delivery log (``deliveries``), by ``key``:
        ``OR23:<order>:<tracking>``, ``OR24:<order>`` or ``ST01:<shipment>``."""
        ...

    def open_shipments(self) -> Sequence[ShipmentOut]:
        """Every shipment not confirmed yet (``shipments_domain.OPEN_STATES``)."""
        ...

    def orders_with_a_shipment(self) -> set[str]:
        """The marketplace orders that have at least one shipment, in any state."""
        ...

    def cached_carriers(self) -> list[shipments_domain.Carrier]:
        """The cached SH21 carrier list, by label."""
        ...

    def carriers_refreshed_at(self) -> datetime | None:
        """When the cached list was loaded; None when it never was."""
        ...

    def replace_carriers(self, carriers: Sequence[shipments_domain.Carrier], at: datetime) -> None:
        """Replace the cached SH21 list."""
        ...

    def carrier_mappings(self) -> list[shipments_domain.Mapping_]:
        """People's Magento carrier → marketplace carrier mappings."""
        ...

    def carrier_mapping_rows(self) -> Sequence[CarrierMapping]:
        """The stored mappings as records, by Magento carrier code then title key (the views)."""
        ...

    def list_shipments(self, *, state: str | None = None, order_id: str | None = None,
                       limit: int = 200, offset: int = 0) -> Sequence[ShipmentOut]:
        """Shipments, newest detected first, optionally of one state and/or marketplace order."""
        ...

    def count_by_state(self) -> dict[str, int]:
        """How many shipments each state holds (states with none are absent)."""
        ...

    def shipments_by_ids(self, ids: Iterable[int]) -> Sequence[ShipmentOut]:
        """The records of these Magento shipment ids (unknown ids are left out)."""
        ...

    def carrier_mapping(self, magento_carrier_code: str, title_key: str) -> CarrierMapping | None:
        """The stored mapping of this Magento carrier code and title key, if any (to edit in place)."""
        ...

    def carrier_mapping_by_id(self, mapping_id: int) -> CarrierMapping | None: ...

    def add_carrier_mapping(self, row: CarrierMapping) -> None:
        """Store a new mapping at once (its id is then set)."""
        ...

    def delete_carrier_mapping(self, row: CarrierMapping) -> None: ...


class ShipmentOrders(Protocol):
    """Where the shipments flow reads marketplace orders (issue 20). Two implementations, picked
    by :mod:`marketbridge.bootstrap` from ``order_feed_enabled``:

    * off: OR11, the flow's own read (``services.shipments.snapshots.Or11Orders``: batched by
      ``order_ids``, a short cache), and a send's own answer confirms it;
    * on: the order feed's mirror (``services.shipments.mirrored.MirrorOrders``), which makes no
      Mirakl call at all; the mirror is as fresh as the feed's last read, so a write of ours
      (OR23/OR24) is confirmed only when a later read shows it
      (``services.shipments.confirm.confirm_from_feed``).
    """

    @property
    def confirms_by_reading(self) -> bool:
        """True when a send must not confirm on the marketplace's 2xx but wait for a later read of
        this source to show the order shipped (the mirror); False for OR11."""
        ...

    def get(self, order_id: str) -> shipments_domain.MarketplaceOrder | None:
        """The order before a send. OR11 raises ``NotFound`` when the marketplace has no such order;
        the mirror returns None when the feed has not read it (yet)."""
        ...

    def forget(self, order_id: str) -> None:
        """We are about to write to this order: a cached copy must not be used again."""
        ...

    def awaiting_shipment(self) -> list[shipments_domain.MarketplaceOrder]:
        """Every order in SHIPPING (the deadline watch)."""
        ...

    def recheck(self, order_id: str) -> shipments_domain.MarketplaceOrder | None:
        """The order again after the marketplace refused OR24 (shipped meanwhile?). OR11 reads it
        now (``TransientError`` propagates; None when it cannot be read); the mirror answers as of
        its last read."""
        ...

    def read_since(self, moment: datetime) -> bool:
        """Whether a complete read of this source started at or after ``moment`` (so what it says
        of an order reflects the marketplace after that moment). Always True for OR11."""
        ...


class ShipmentsStore(Protocol):
    """The shipments flow's storage: each :meth:`unit_of_work` is one transaction, committed when
    the block ends normally and rolled back when it raises."""

    def unit_of_work(self) -> AbstractContextManager[ShipmentsRepository]: ...
