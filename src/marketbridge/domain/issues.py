"""Issue records: the one shared model every flow raises into.

An *issue* is a business problem that needs a person: one record about one business object (an
order, a SKU, a shipment, a refund, a product), owned by one team, written in plain English with a
suggested action. A repeat of the same problem on the same object updates the same record (count
and last seen), and the record resolves itself when the flow sees the condition clear.

The teams call these *exceptions*, and so do the console, the guides, the CLI, the public API and
the database table; the code says *issue* so that nothing confuses them with Python's exceptions.

Every issue *type* is declared once with :func:`issue_type`, with its owner, severity
and the plain-English explanation that the operating guide and the dashboard show. A test checks
that the guide in ``docs/operations/`` covers every declared type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Team(enum.StrEnum):
    ECOMMERCE = "ecommerce"
    OPS = "ops"
    FINANCE = "finance"
    CUSTOMER_SERVICE = "customer_service"


class Severity(enum.StrEnum):
    """``critical`` alerts at once; ``warning`` and ``info`` go in the daily digest."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class IssueState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    IGNORED = "ignored"

    @property
    def is_active(self) -> bool:
        """Open and acknowledged records still need someone; resolved and ignored do not."""
        return self in (IssueState.OPEN, IssueState.ACKNOWLEDGED)


class ObjectType(enum.StrEnum):
    ORDER = "order"
    SKU = "sku"
    SHIPMENT = "shipment"
    REFUND = "refund"
    PRODUCT = "product"
    CARRIER = "carrier"
    CONNECTION = "connection"


@dataclass(frozen=True)
class IssueType:
    """A kind of problem, as the operating guide explains it."""

    code: str
    owner: Team
    severity: Severity
    object_type: ObjectType
    title: str
    meaning: str
    action: str


_REGISTRY: dict[str, IssueType] = {}


def issue_type(
    code: str,
    *,
    owner: Team,
    severity: Severity,
    object_type: ObjectType,
    title: str,
    meaning: str,
    action: str,
) -> IssueType:
    """Declare an issue type once, at import time of the flow's domain module."""
    declared = IssueType(code, owner, severity, object_type, title, meaning, action)
    existing = _REGISTRY.get(code)
    if existing is not None and existing != declared:
        raise ValueError(f"issue type {code!r} declared twice with different content")
    _REGISTRY[code] = declared
    return declared


def registered_types() -> dict[str, IssueType]:
    """Every declared type. Import ``marketbridge.domain.catalog`` first to load them all."""
    return dict(_REGISTRY)


def get_type(code: str) -> IssueType:
    try:
        return _REGISTRY[code]
    except KeyError:
        raise KeyError(f"unknown issue type {code!r}: declare it with issue_type()") from None


@dataclass(frozen=True)
class IssueReport:
    """What a flow hands to the recorder: one problem about one object, right now.

    ``message`` is for people (plain English, names the object and what is wrong);
    ``detail`` is for engineers (the remote error, the payload excerpt); ``suggested_action``
    defaults to the type's action.
    """

    type: IssueType
    object_id: str
    message: str
    detail: str = ""
    suggested_action: str | None = None
    severity: Severity | None = None
    context: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type.code, self.type.object_type.value, self.object_id)


# Types raised by the foundation itself (connections, workflows).
CONNECTION_FAILED = issue_type(
    "connection_failed",
    owner=Team.ECOMMERCE,
    severity=Severity.CRITICAL,
    object_type=ObjectType.CONNECTION,
    title="A connection to Adobe Commerce or John Lewis is failing",
    meaning="marketbridge could not authenticate or reach one of the two systems, so nothing is flowing "
    "through that connection until it works again.",
    action="Check that the API key or integration token is still valid and that the system is up. "
    "Run `marketbridge check` to see exactly what fails.",
)
WORKFLOW_FAILED = issue_type(
    "workflow_failed",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.CONNECTION,
    title="A background job stopped after repeated failures",
    meaning="A background job (for example importing an order or pushing stock) failed every time it "
    "was retried and has stopped, so its work is not done yet.",
    action="Read the technical detail, fix the cause, then press Retry on the exception.",
)
