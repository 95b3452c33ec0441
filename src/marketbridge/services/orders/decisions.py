"""Accept / refuse / hold: the acceptance rules, OR21, and a person's decision on a held order.

OR21 is sent only from state ``received``/``held``, with a decision for every waiting line; a
repeat after a crash fails with an invalid-state error, upon which the order is re-read (OR11
``order_ids``) and its new state stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from marketbridge.adapters.errors import Rejected, RemoteError
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.domain.orders import SkuMatch
from marketbridge.ports.orders import OrdersRepository
from marketbridge.runtime import Runtime
from marketbridge.services.orders.pulling import store_order
from marketbridge.services.orders.record import S, _transition, _write_with_retry, get_order_record
from marketbridge.services.orders.results import DecisionResult
from marketbridge.services.orders.skus import (
    Catalog,
    _channel_price,
    _salable,
    confirmed_links,
    open_reservations,
    price_rules,
    resolve_sku,
)
from marketbridge.settings import Settings


def acceptance_rules(settings: Settings) -> orders_domain.AcceptanceRules:
    return orders_domain.AcceptanceRules(currency=settings.currency, price_tolerance_percent=settings.price_tolerance_percent,
                                 partial_acceptance=settings.partial_acceptance,
                                 hold_on_failure=settings.acceptance_policy.value == "hold")


def decide(runtime: Runtime, order_id: str) -> DecisionResult:
    """Apply the acceptance rules to a received order and send OR21 (or hold it for a person)."""
    settings = runtime.settings
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.state != S.RECEIVED.value or order.marketplace_state != "WAITING_ACCEPTANCE":
            return DecisionResult(order_id, order.state, skipped=True)
        lines = [(line.order_line_id, line.offer_sku, line.quantity, line.unit_price) for line in order.lines
                 if line.marketplace_state == "WAITING_ACCEPTANCE"]
        currency = order.currency
        links = confirmed_links(orders.skus, [offer_sku for _, offer_sku, _, _ in lines])
        rule_rows = price_rules(orders.stock)
    catalog = Catalog.of(runtime)
    resolved = {}
    for line_id, offer_sku, _qty, _unit in lines:
        resolved[line_id] = resolve_sku(catalog, offer_sku, links.get(offer_sku))
    with runtime.orders_store.unit_of_work() as orders:  # other open orders' quantities, counted once per decision
        for line in get_order_record(orders, order_id, settings.order_connection).lines:  # type: ignore[union-attr]
            if line.order_line_id in resolved:
                line.magento_sku, line.sku_match = resolved[line.order_line_id][0], resolved[line.order_line_id][1].value
        orders.flush()
        reserved = open_reservations(orders, settings, order_id)
    facts = []
    for line_id, offer_sku, qty, unit in lines:
        sku, how = resolved[line_id]
        product = catalog.product(sku) if sku else None
        channel = _channel_price(product, rule_rows)[0] if product else None
        facts.append(orders_domain.LineFacts(
            order_line_id=line_id, offer_sku=offer_sku, quantity=qty, unit_price=unit, match=how, magento_sku=sku,
            enabled=product.enabled if product else False,
            salable_qty=_salable(runtime, catalog, product) if product else None,
            reserved_elsewhere=reserved.get(sku or "", 0.0), channel_price=channel))
    decision = orders_domain.decide_acceptance(facts, acceptance_rules(settings), currency)
    return _apply_decision(runtime, order_id, decision, facts, actor="rules")


def _apply_decision(runtime: Runtime, order_id: str, decision: orders_domain.AcceptanceDecision,
                    facts: Sequence[orders_domain.LineFacts], *, actor: str) -> DecisionResult:
    settings = runtime.settings
    by_line = {d.order_line_id: d for d in decision.lines}
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, settings.order_connection)
        assert order is not None
        if order.state not in (S.RECEIVED.value, S.HELD.value) or order.marketplace_state != "WAITING_ACCEPTANCE":
            # Moved on while we read Adobe Commerce: an earlier attempt's OR21 took effect (its
            # answer lost to a time-out) and the poll stored the result, or someone decided in the
            # back office. The marketplace's decision stands; writing ours over the lines lost an
            # order in the full soak (JL-000796-A: "no accepted line to create").
            return DecisionResult(order_id, order.state, skipped=True)
        for line in order.lines:
            d = by_line.get(line.order_line_id)
            if d is not None:
                line.accepted = d.accepted if decision.outcome is not orders_domain.Outcome.HOLD else None
                line.reasons = [r.value for r in d.reasons]
        order.decision = {"outcome": decision.outcome.value, "actor": actor,
                          "lines": [d.as_dict() for d in decision.lines]}
        order.reason = decision.reasons_text()
        for f in facts:
            if f.match is SkuMatch.NORMALISED and f.magento_sku:
                orders.issues.record(IssueReport(
                    orders_domain.ORDER_SKU_NORMALISED, f.offer_sku,
                    f"Marketplace offer SKU {f.offer_sku!r} matched Adobe Commerce SKU {f.magento_sku!r} only after "
                    f"removing spaces or changing case (order {order_id}).", context={"order_id": order_id}))
        if decision.outcome is orders_domain.Outcome.HOLD:
            _transition(orders, order, S.HELD, actor=actor, reasons=order.reason)
            deadline = order.acceptance_deadline
            when = deadline.strftime("%Y-%m-%d %H:%M UTC") if deadline else "unknown"
            orders.issues.record(IssueReport(
                orders_domain.ORDER_HELD, order_id,
                f"Order {order_id} is held for a decision: {order.reason}. The marketplace refuses it automatically "
                f"at {when}.", context={"acceptance_deadline": deadline.isoformat() if deadline else None}))
            return DecisionResult(order_id, order.state, decision.outcome.value)
    return send_decision(runtime, order_id, decision.or21, actor=actor, outcome=decision.outcome.value,
                         reason=decision.reasons_text())


def send_decision(runtime: Runtime, order_id: str, or21: dict[str, bool], *, actor: str, outcome: str,
                  reason: str) -> DecisionResult:
    """OR21 with a decision for every line, then the transition. On rejection the order is re-read."""
    settings = runtime.settings
    try:
        runtime.mirakl.accept_order(order_id, or21)
    except Rejected as error:
        fresh = None
        try:
            fresh = next(iter(runtime.mirakl.iter_offset("OR11", {"order_ids": order_id})), None)
        except RemoteError:
            pass
        with runtime.orders_store.unit_of_work() as orders:
            if fresh is not None:
                store_order(orders, settings, fresh)
            order = get_order_record(orders, order_id, settings.order_connection)
            assert order is not None
            if order.marketplace_state == "WAITING_ACCEPTANCE":
                orders.issues.record(IssueReport(
                    orders_domain.ORDER_DECISION_FAILED, order_id,
                    f"The marketplace rejected the {outcome} decision for order {order_id}.", detail=str(error)))
            return DecisionResult(order_id, order.state, outcome, rejected=str(error))
    accepted_any = any(or21.values())

    def record(orders: OrdersRepository) -> DecisionResult:
        order = get_order_record(orders, order_id, settings.order_connection)
        assert order is not None
        for line in order.lines:
            if line.order_line_id in or21:
                line.accepted = or21[line.order_line_id]
        if order.state in (S.RECEIVED.value, S.HELD.value):  # a concurrent poll may have moved it on already
            if accepted_any:  # (lines refused with it are re-published by the transition, as every line)
                _transition(orders, order, S.ACCEPTED, actor=actor, or21=or21, outcome=outcome)
            else:
                order.reason = reason
                _transition(orders, order, S.REFUSED, actor=actor, or21=or21, reason=reason)
                orders.issues.record(IssueReport(orders_domain.ORDER_REFUSED, order_id,
                                                 f"Order {order_id} was refused: {reason}."))
        orders.issues.clear(orders_domain.ORDER_HELD, order_id)
        orders.issues.clear(orders_domain.ORDER_ACCEPTANCE_DEADLINE_NEAR, order_id)
        orders.issues.clear(orders_domain.ORDER_DECISION_FAILED, order_id)
        return DecisionResult(order_id, order.state, outcome)

    return _write_with_retry(runtime, record)



class DecisionNotAllowed(Exception):
    pass


def decide_by_person(runtime: Runtime, order_id: str, accept: bool, *, actor: str) -> DecisionResult:
    """A person's decision on a held (or still undecided) order: every waiting line accepted or refused."""
    settings = runtime.settings
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.state not in (S.HELD.value, S.RECEIVED.value) or order.marketplace_state != "WAITING_ACCEPTANCE":
            raise DecisionNotAllowed(
                f"order {order_id} is {order.state} (marketplace: {order.marketplace_state}); only held orders "
                "waiting for acceptance can be decided")
        or21 = {line.order_line_id: accept for line in order.lines if line.marketplace_state == "WAITING_ACCEPTANCE"}
        orders.issues.audit(actor, "order.accept" if accept else "order.refuse", "order", order_id)
    reason = "accepted by a person" if accept else f"refused by {actor}"
    return send_decision(runtime, order_id, or21, actor=actor, outcome="accept" if accept else "refuse", reason=reason)
