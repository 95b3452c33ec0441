"""Roles. Every role sees everything; each acts on the exceptions its team owns; admin on all."""

from __future__ import annotations

import enum

from marketbridge.domain.exceptions import Team


class Role(enum.StrEnum):
    ADMIN = "admin"
    ECOMMERCE = "ecommerce"
    OPS = "ops"
    FINANCE = "finance"
    CUSTOMER_SERVICE = "customer_service"


def can_act_on(role: Role, owner: Team | str) -> bool:
    """Whether a person with ``role`` may act on an exception owned by ``owner``."""
    return role is Role.ADMIN or role.value == str(owner)
