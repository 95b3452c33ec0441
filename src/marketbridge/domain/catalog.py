"""Imports every flow's domain module so that all issue types are declared.

The operating guide test and the dashboard use :func:`all_issue_types`.
"""

from __future__ import annotations

from marketbridge.domain import catalogue, orders, refunds, shipments, stock  # noqa: F401
from marketbridge.domain.issues import IssueType, registered_types


def all_issue_types() -> dict[str, IssueType]:
    return registered_types()
