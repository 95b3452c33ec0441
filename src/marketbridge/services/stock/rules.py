"""Stored channel rules: list, add (or replace), remove, and load them for the pure domain.

Rules are read as :class:`~marketbridge.services.stock.views.RuleView` (the JSON API's response
model; its ``model_dump(mode="json")`` is the dict this module returned before issue 18).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from marketbridge.domain.stock import Kind, Rule, RuleError, Scope, validate_rule
from marketbridge.services.issues import audit
from marketbridge.services.stock import outbox
from marketbridge.services.stock.views import RuleView

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # the caller's transaction, wrapped in the port (outbox.store)

    from marketbridge.adapters.db.models.stock import StockRule


def load_rules(session: Session) -> list[Rule]:
    """Every stored rule as domain objects (what publishable_quantity/channel_price take)."""
    rows = outbox.store(session).rule_rows()
    return [
        Rule(kind=Kind(r.kind), scope=Scope(r.scope), scope_key=r.scope_key, params=dict(r.params or {}), id=r.id)
        for r in rows
    ]


def rule_view(row: StockRule) -> RuleView:
    return RuleView(
        id=row.id,
        kind=row.kind,
        scope=row.scope,
        scope_key=row.scope_key,
        params=dict(row.params or {}),
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at.isoformat() if row.created_at else None,
    )


def list_rules(session: Session, kind: Kind | None = None) -> list[RuleView]:
    return [rule_view(r) for r in outbox.store(session).list_rule_rows(None if kind is None else kind.value)]


def put_rule(
    session: Session,
    kind: Kind,
    scope: Scope,
    scope_key: str,
    params: Mapping[str, object],
    *,
    actor: str,
    note: str = "",
) -> RuleView:
    """Add a rule, or replace the one with the same kind and scope. Audited. Raises RuleError."""
    rule = validate_rule(kind, scope, scope_key, params)
    repo = outbox.store(session)
    row = repo.find_rule(kind.value, scope.value, rule.scope_key)
    if row is None:
        row = repo.new_rule(kind.value, scope.value, rule.scope_key)
    row.params = dict(rule.params)
    row.note = note
    row.created_by = actor
    repo.flush()
    audit(session, actor, "rule.put", "rule", str(row.id), kind=kind.value, scope=scope.value,
          scope_key=rule.scope_key, params=dict(rule.params))
    return rule_view(row)


def remove_rule(session: Session, rule_id: int, *, actor: str) -> None:
    repo = outbox.store(session)
    row = repo.rule(rule_id)
    if row is None:
        raise RuleError(f"no rule {rule_id}")
    audit(session, actor, "rule.remove", "rule", str(rule_id), kind=row.kind, scope=row.scope,
          scope_key=row.scope_key, params=dict(row.params or {}))
    repo.delete_rule(row)
