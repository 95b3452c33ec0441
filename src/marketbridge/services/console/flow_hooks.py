"""The flow-specific issue actions of the console, wired to each flow's own services.

Kept apart from ``actions`` because it is the one place that knows other flows' function
names: it imports ``actions`` (never the other way round) and the flows' services, and
:func:`register_all` is called by :mod:`marketbridge.bootstrap` with the runtime's table. Every
hook calls the same service function as the flow's CLI command (``orders accept|refuse|retry``,
``carriers map``, ``skus link``, ``refunds retry|mirror``). Starting work on the engine goes
through the bus (``OrderRetryRequested``), as the JSON API does.

Issue ``object_id`` conventions relied on (set by the flows): orders → the marketplace order
id; carriers → the carrier key, with ``magento_carrier_code`` / ``title`` / ``suggestions`` in the
record's context; credit memos → ``creditmemo:<increment id or id>``; marketplace refunds →
``refund:<refund id>``; SKU near misses → the offer SKU, with ``magento_sku`` in the context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from marketbridge.adapters.errors import RemoteError
from marketbridge.bus import OrderRetryRequested
from marketbridge.services import orders as order_service
from marketbridge.services import refunds as refund_service
from marketbridge.services import shipments as shipment_service
from marketbridge.services import skus as sku_service
from marketbridge.services.console.actions import (
    ActionFailed,
    ActionRefused,
    FlowAction,
    FlowActions,
    retry_workflow,
)

log = structlog.get_logger(__name__)


def register_all(actions: FlowActions) -> None:
    """Add every flow action the console offers to ``actions`` (called once, by bootstrap)."""
    register = actions.register
    register(["workflow_failed"], FlowAction("retry", "Retry", retry_workflow))

    def refused_on(*error_names: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
        """Turn a flow's "not allowed now" errors into a plain refusal shown to the person."""

        def wrap(fn: Callable[..., str]) -> Callable[..., str]:
            def run(ctx: Any) -> str:
                try:
                    return fn(ctx)
                except Exception as error:
                    if type(error).__name__ in error_names or isinstance(error, ValueError):
                        raise ActionRefused(str(error)) from error
                    if isinstance(error, LookupError | ActionRefused | ActionFailed):
                        raise
                    if isinstance(error, RemoteError):
                        raise ActionFailed(f"The marketplace or Adobe Commerce did not accept it: {error}") from error
                    raise

            return run

        return wrap

    # --- orders: decide a held order, retry the creation in Adobe Commerce ----------------------
    def deciding(accept: bool) -> Callable[[Any], str]:
        @refused_on("DecisionNotAllowed")
        def handler(ctx: Any) -> str:
            outcome = order_service.decide_by_person(ctx.runtime, ctx.record.object_id, accept, actor=ctx.actor)
            verb = "accepted" if accept else "refused"
            state = outcome.state
            return f"Order {ctx.record.object_id} {verb} on John Lewis" + (f" (now {state})." if state else ".")

        return handler

    held = ["order_held", "order_acceptance_deadline_near"]
    register(held, FlowAction("accept", "Accept order", deciding(True)))
    register(held, FlowAction("refuse", "Refuse order", deciding(False)))

    @refused_on("DecisionNotAllowed")
    def order_retry(ctx: Any) -> str:
        order_id = ctx.record.object_id
        workflow_id = order_service.request_retry(ctx.runtime, order_id, actor=ctx.actor)
        if ctx.runtime.bus.handle(OrderRetryRequested(order_id, workflow_id)):
            return f"Creating order {order_id} in Adobe Commerce again now."
        return f"Order {order_id} will be created again by the next order poll (within a minute or two)."

    register(["order_creation_failed", "order_custom_option_missing"],
             FlowAction("retry", "Retry creating the order", order_retry))

    # --- carriers: map an unknown carrier to a John Lewis carrier code ---------------------------
    @refused_on("InvalidMapping")
    def map_carrier(ctx: Any) -> str:
        context = ctx.record.context or {}
        added = shipment_service.add_mapping(
            ctx.runtime,
            marketplace_code=ctx.params["marketplace_code"],
            magento_carrier_code=context.get("magento_carrier_code") or None,
            title=context.get("title") or None,
            actor=ctx.actor,
        )
        shown = context.get("title") or context.get("magento_carrier_code") or ctx.record.object_id
        return (f"Carrier '{shown}' now maps to {added.mapping.marketplace_code}; "
                f"{len(added.released_shipments)} waiting shipment(s) will be sent.")

    register(["carrier_unmapped"], FlowAction(
        "map_carrier", "Map carrier", map_carrier, fields={"marketplace_code": "John Lewis carrier code"}))

    def shipment_retry(send_anyway: bool) -> Callable[[Any], str]:
        @refused_on("InvalidMapping")
        def handler(ctx: Any) -> str:
            shipment_id = int(ctx.record.object_id.removeprefix("shipment:"))
            shipment_service.retry_shipment(ctx.runtime, shipment_id, actor=ctx.actor, send_anyway=send_anyway)
            return f"Shipment {shipment_id} will be sent to John Lewis again."

        return handler

    register(["shipment_rejected", "shipment_lines_unknown", "shipment_tracking_missing"],
             FlowAction("retry", "Send the shipment again", shipment_retry(False)))
    register(["tracking_number_reused"],
             FlowAction("retry", "Send it anyway", shipment_retry(True)))

    # --- SKUs: confirm a near-miss link -----------------------------------------------------------
    @refused_on("SkuLinkError")
    def link_sku(ctx: Any) -> str:
        magento_sku = ctx.params.get("magento_sku") or (ctx.record.context or {}).get("magento_sku", "")
        sku_service.link(ctx.unit.links, ctx.record.object_id, magento_sku, confirmed_by=ctx.actor)
        return f"Offer SKU {ctx.record.object_id} is now linked to Adobe Commerce SKU {magento_sku}."

    register(["sku_near_miss"], FlowAction("link_sku", "Link the SKUs", link_sku,
                                           fields={"magento_sku": "Adobe Commerce SKU"}))

    # --- refunds: retry a held credit memo, mirror a marketplace refund ---------------------------
    @refused_on("RefundActionError")
    def refund_retry(ctx: Any) -> str:
        key = ctx.record.object_id.removeprefix("creditmemo:")
        refund_service.request_retry(ctx.runtime, key, actor=ctx.actor)
        return f"Credit memo {key} will be checked and sent again."

    register(["refund_not_sent", "refund_adjustment_unallocated", "refund_refused_by_marketplace"],
             FlowAction("retry", "Retry the refund", refund_retry))

    @refused_on("RefundActionError")
    def mirror_refund(ctx: Any) -> str:
        refund_id = ctx.record.object_id.removeprefix("refund:")
        refund_service.mirror_marketplace_refund(ctx.runtime, refund_id, actor=ctx.actor)
        return f"A credit memo matching marketplace refund {refund_id} was created in Adobe Commerce."

    register(["marketplace_refund_recorded"],
             FlowAction("mirror", "Create the matching credit memo", mirror_refund))
