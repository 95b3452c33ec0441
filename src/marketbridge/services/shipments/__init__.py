"""The shipments flow: Magento shipments become marketplace tracking and dispatch.

    detect     a Magento shipment of a marketplace order is written to ``shipments_out`` first;
    prepare    re-read it and decide: wait (carrier mapping, tracking number), refuse, or send;
    send       read the marketplace order first (OR11, or the order feed's mirror), then OR23+OR24 or ST01;
    confirm    with the order feed on, its next read confirms what a send wrote (issue 20);
    watch      shipping deadlines and unconfirmed shipments become issues for Ops;
    carriers   the SH21 list and the Magento → marketplace carrier mappings;
    console    views for the console, the API and the CLI.

Every function takes the runtime (settings, database, clients) or a session. This module is the
flow's API for workflows, web and CLI; the steps live in the modules named above. Results are
typed: pydantic views (``views``) where they are JSON output, frozen dataclasses beside the steps
that make them (``Decision``, ``SendResult``, ``WatchCounts``; the workflow steps record their
``as_json()``, since the engine's serializer takes JSON only).
"""

from marketbridge.services.shipments.carriers import (
    InvalidMapping,
    add_mapping,
    cached_carriers,
    delete_mapping,
    ensure_carriers,
    list_mappings,
    refresh_carriers,
    release_waiting,
    suggest,
)
from marketbridge.services.shipments.confirm import confirm_from_feed, on_order_changed
from marketbridge.services.shipments.console import (
    counts_by_state,
    get_shipment,
    list_shipments,
    shipment_view,
    shipments_for,
)
from marketbridge.services.shipments.detect import (
    SHIPMENT_EVENTS,
    detect_shipment,
    due_for_send,
    poll_new_shipments,
    recheck_tracks,
)
from marketbridge.services.shipments.outcomes import SendResult
from marketbridge.services.shipments.prepare import Decision, prepare
from marketbridge.services.shipments.send import note_failure, retry_shipment, send
from marketbridge.services.shipments.views import (
    CarrierMappingView,
    CarrierMatchView,
    CarrierSuggestions,
    CarrierView,
    MappingAdded,
    ShipmentCounts,
    ShipmentView,
    SuggestionView,
)
from marketbridge.services.shipments.watch import WatchCounts, watch

__all__ = [
    "SHIPMENT_EVENTS",
    "CarrierMappingView", "CarrierMatchView", "CarrierSuggestions", "CarrierView", "Decision", "MappingAdded",
    "SendResult", "ShipmentCounts", "ShipmentView", "SuggestionView", "WatchCounts",
    "InvalidMapping", "add_mapping", "cached_carriers", "confirm_from_feed", "counts_by_state", "delete_mapping",
    "detect_shipment",
    "due_for_send", "ensure_carriers", "get_shipment", "list_mappings", "list_shipments", "note_failure", "on_order_changed",
    "poll_new_shipments",
    "prepare", "recheck_tracks", "refresh_carriers", "release_waiting", "retry_shipment", "send", "shipment_view",
    "shipments_for", "suggest", "watch",
]
