"""Credit memo webhooks: the id from a Commerce webhook or an I/O event, stored in the
dispatcher's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from marketbridge.services.refunds.states import NEW

if TYPE_CHECKING:
    from marketbridge.ports import RefundsRepository

log = structlog.get_logger(__name__)


def creditmemo_id_from_event(payload: Any) -> int | None:
    """The credit memo entity id from a Commerce webhook (``data.creditmemo``) or an I/O event
    (``event.data.value.creditmemo`` or ``data.value``); None when absent."""
    if not isinstance(payload, dict):
        return None
    candidates: list[Any] = []
    data = payload.get("data")
    if isinstance(data, dict):
        candidates += [data.get("creditmemo"), (data.get("value") or {}).get("creditmemo") if isinstance(
            data.get("value"), dict) else None, data.get("value"), data]
    event = payload.get("event")
    if isinstance(event, dict) and isinstance(event.get("data"), dict):
        value = event["data"].get("value")
        if isinstance(value, dict):
            candidates += [value.get("creditmemo"), value]
    for candidate in candidates:
        if isinstance(candidate, dict):
            raw = candidate.get("entity_id")
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.isdigit():
                return int(raw)
    return None


def on_creditmemo_event(repo: RefundsRepository, event_name: str, data: dict) -> None:
    """Webhook handler (``observer.sales_order_creditmemo_save_after``, added by bootstrap on a
    repository over the dispatcher's session): store the memo id, in the dispatcher's transaction.
    The refunds poll schedule starts its workflow."""
    memo_id = creditmemo_id_from_event({"data": data})
    if memo_id is None:
        log.warning("refunds.webhook_without_id", event_name=event_name)
        return
    if not repo.has_memo(memo_id):
        repo.add_memo(memo_id, status=NEW, source="webhook")
