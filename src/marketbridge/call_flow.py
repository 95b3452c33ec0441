"""Which flow the current code runs for, so a marketplace call can be counted against it.

A Mirakl API's budget (once a minute for OR11, for the whole shop) is shared by every flow that
calls it; the console's budget page (``services.budgets``) shows who spent it. The flow travels in
a :class:`contextvars.ContextVar`, set once where work enters the process, never passed down as
an argument:

* every DBOS workflow, by its name (``workflows.flow.flow_workflow`` wraps the decorator):
  ``orders.feed`` is the order feed, ``orders.*`` the orders flow, ``shipments.*``, ``refunds.*``,
  ``stock.*``, ``catalogue.*``, ``console.*``, ``maintenance.*`` their areas. DBOS runs a
  synchronous workflow's steps on the workflow's own thread, so the steps inherit it;
* the web app, for a person's request (``console``: the pages and the JSON API; webhooks are not);
* the CLI (``cli``), for what a person runs by hand.

Anything else is ``other``. Reading the variable costs nothing, which matters: the Mirakl client
asks on every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

OTHER = "other"

#: Every flow the budget page names, in the order it lists them, with the words it uses.
FLOWS: dict[str, str] = {
    "order_feed": "order feed",
    "orders": "orders",
    "shipments": "shipments",
    "refunds": "refunds",
    "stock": "stock",
    "catalogue": "catalogue",
    "finance": "finance",
    "console": "console (a person)",
    "cli": "command line (a person)",
    "maintenance": "maintenance",
    OTHER: "other",
}

_current: ContextVar[str] = ContextVar("marketbridge_call_flow", default=OTHER)


def current_flow() -> str:
    return _current.get()


@contextmanager
def acting_as(flow: str) -> Iterator[None]:
    """Run the block as ``flow`` (nested uses restore the outer flow)."""
    token = _current.set(flow)
    try:
        yield
    finally:
        _current.reset(token)


def set_flow(flow: str) -> None:
    """Set the flow for the rest of this context (a CLI process: one person, one flow)."""
    _current.set(flow)


def flow_of_workflow(name: str) -> str:
    """The flow a workflow named ``name`` works for: its area, the part before the first dot;
    ``orders.feed`` (and its steps) is the order feed, not the orders flow."""
    if name == "orders.feed" or name.startswith("orders.feed."):
        return "order_feed"
    area = name.split(".", 1)[0]
    return area if area in FLOWS else OTHER


__all__ = ["FLOWS", "OTHER", "acting_as", "current_flow", "flow_of_workflow", "set_flow"]
