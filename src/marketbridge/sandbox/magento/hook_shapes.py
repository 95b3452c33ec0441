"""The bodies Adobe Commerce sends for a hook, by hook type (MAGENTO.md §11; docs/api-notes.md,
"Issue 14: Adobe Commerce events").

* ``plugin``: the intercepted method's arguments by PHP parameter name, plus ``subject`` (the
  object the method belongs to; ``[]`` when Commerce cannot serialise it, as in the documented
  example) and ``result`` (an *after* hook; ``null`` for a ``void`` method). No ``eventName``.
  Source: the sample ``webhook-payload-plugin-shipment_estimation-example.json`` and the
  documentation page ``webhooks/hooks.md``.
* ``observer``: ``{"eventName": ..., "data": {...}}``; for a model's ``*_save_after`` Magento
  dispatches ``['data_object' => $model, <event object> => $model]``
  (``AbstractModel::_getEventData``), so ``data`` carries both keys.
* field filtering (``<fields>``): only the named fields, at those paths (``product.sku``,
  ``sourceItems[].sku``), and nothing else, not even ``eventName``.
* Adobe I/O Events: a CloudEvents 1.0 envelope whose ``data.value`` is the event's payload
  (samples ``io-event-*.json``; the SDK reads ``recipient_client_id`` at the top level).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

PLUGIN, OBSERVER = "plugin", "observer"
PROVIDER_ID = "3bb6a0b2-0c5f-4b2e-9f0b-7d1f3c2a1e55"  # the simulator's event provider (any UUID)


def default_shape(name: str) -> str:
    return PLUGIN if name.startswith("plugin.") else OBSERVER


def _observer_data(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a model's save event carries it: the object under its name and as ``data_object``."""
    if len(data) == 1 and "data_object" not in data:
        (only,) = data.values()
        if isinstance(only, dict):
            return {"data_object": only, **data}
    return data


def body(name: str, data: dict[str, Any], shape: str | None = None) -> dict[str, Any]:
    """The body of hook ``name`` for an event whose arguments / objects are ``data``."""
    if (shape or default_shape(name)) == PLUGIN:
        # ``result`` is present for an *after* hook, the type docs/setup/adobe-commerce.md asks for
        return {"subject": [], **data, "result": None}
    return {"eventName": name, "data": _observer_data(data)}


def _select(value: Any, parts: list[str]) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = value.get(head[:-2]) if isinstance(value, dict) else None
        return {head[:-2]: [_select(item, rest) for item in items]} if isinstance(items, list) else {}
    if not isinstance(value, dict) or head not in value:
        return {}
    return {head: _select(value[head], rest)} if rest else {head: value[head]}


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            for mine, theirs in zip(into[key], value, strict=False):
                if isinstance(mine, dict) and isinstance(theirs, dict):
                    _merge(mine, theirs)
        else:
            into[key] = value


def filtered(full: dict[str, Any], fields: list[Any]) -> dict[str, Any]:
    """Only ``fields`` of ``full``. A field is a path (``a.b``, ``items[].sku``) kept where it is,
    or ``(name, source)``: the value at path ``source`` sent at path ``name`` (``<field
    name="product.sku" source="data.product.sku"/>``)."""
    out: dict[str, Any] = {}
    for field in fields:
        if isinstance(field, (tuple, list)):
            name, source = field
            value: Any = full
            for part in source.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None:
                for part in reversed(name.split(".")):
                    value = {part: value}
                _merge(out, value)
        else:
            _merge(out, _select(full, field.split(".")))
    return out


def cloud_event(name: str, value: dict[str, Any], *, client_id: str = "sandbox-client-id") -> dict[str, Any]:
    """An Adobe I/O Events delivery of Commerce event ``name`` (``observer.…`` / ``plugin.…``)."""
    event_id = str(uuid.uuid4())
    return {
        "specversion": "1.0",
        "id": event_id,
        "event_id": event_id,
        "source": f"urn:uuid:{PROVIDER_ID}",
        "type": f"com.adobe.commerce.{name}",
        "datacontenttype": "application/json",
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "recipient_client_id": client_id,
        "data": {"key": str(uuid.uuid4()), "value": value,
                 "_metadata": {"commerceEdition": "Adobe Commerce", "commerceVersion": "2.4.7",
                               "eventsClientVersion": "1.0.1", "storeId": "0", "websiteId": "1",
                               "storeGroupId": "0"},
                 "source": "sandbox.sandbox"},
    }


def io_value(data: dict[str, Any]) -> dict[str, Any]:
    """What an I/O event's ``data.value`` holds: the dispatched object's own data (the sample
    ``io-event-observer-catalog_product_save_after.json`` has the product's fields at the top)."""
    if len(data) == 1:
        (only,) = data.values()
        if isinstance(only, dict):
            return only
    return data


__all__ = ["OBSERVER", "PLUGIN", "body", "cloud_event", "default_shape", "filtered", "io_value"]
