"""The flow-specific exception actions of the console, wired to each flow's own services.

Kept apart from ``console_actions`` because it is the one place that knows other flows' function
names; each hook is registered only when the flow's service provides it, so the dashboard never
shows a button that cannot work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def register_all(register: Callable[..., None], optional: Callable[[str, str], Callable[..., Any] | None]) -> None:
    """Called once, lazily, by ``console_actions``. Filled in as the flows land."""
