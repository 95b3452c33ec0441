"""DBOS workflows of the stock flow: thin durable shells around marketbridge.services.

Declare QUEUES (kwargs for DBOS.register_queue) and schedules(settings) (a list of
DBOS.apply_schedules entries); marketbridge.workflows.engine registers both at launch.
"""

from __future__ import annotations

from typing import Any

from marketbridge.settings import Settings

QUEUES: list[dict[str, Any]] = []


def schedules(settings: Settings) -> list[dict[str, Any]]:
    return []
