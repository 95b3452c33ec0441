"""Roles, and the one role policy every route of the console and the JSON API is checked against.

Every role sees everything; each acts on the issues its team owns; admin on all. The same rule
decides who may *change* things: a change belongs to the team that owns its consequences (stock
rules and the catalogue to Ecommerce, carriers and held orders to Ops, refunds to Finance), which
is also the team owning the issues a change resolves, so the console's per-issue buttons
and the JSON API cannot disagree.

:data:`POLICY` maps each :class:`Action` to the team that owns it (``None``: every role). Web
routes attach an action with ``marketbridge.web.policy.requires(action)``; routes that need no
log-in at all are listed in :data:`PUBLIC_ROUTES` with the reason. A test walks the whole route
table and fails for a route that is in neither.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from marketbridge.domain.issues import Team


class Role(enum.StrEnum):
    ADMIN = "admin"
    ECOMMERCE = "ecommerce"
    OPS = "ops"
    FINANCE = "finance"
    CUSTOMER_SERVICE = "customer_service"


def can_act_on(role: Role, owner: Team | str) -> bool:
    """Whether a person with ``role`` may act on an issue owned by ``owner``."""
    return role is Role.ADMIN or role.value == str(owner)


class Action(enum.StrEnum):
    """What a route does, as far as permissions go."""

    READ = "read"  # look at any page or read any API answer
    SIGN_OUT = "sign_out"  # end one's own console session
    ACT_ON_ISSUE = "act_on_exception"  # then per record: can_act_on(role, record.owner); value as before
    EDIT_STOCK_RULES = "edit_stock_rules"
    EDIT_CARRIER_MAPPINGS = "edit_carrier_mappings"
    EDIT_CATALOGUE = "edit_catalogue"  # attribute/category mappings, publish overrides, SKU links
    PUBLISH_CATALOGUE = "publish_catalogue"
    RUN_AUDIT = "run_audit"
    DECIDE_ORDERS = "decide_orders"  # accept or refuse a held order on the marketplace
    RETRY_ORDERS = "retry_orders"  # create a failed order in Adobe Commerce again
    ACT_ON_REFUNDS = "act_on_refunds"  # retry a held credit memo, mirror a marketplace refund
    MANAGE_ACCOUNTS = "manage_accounts"  # people and API tokens (admin only)
    READ_ACCOUNTS = "read_accounts"  # the list of people and tokens (admin only: names, last use)


#: The owner of each action: a team (that team and admin), ``Role.ADMIN`` (admin only) or ``None``
#: (every role). Mirrors the owners of the issue types these actions resolve (order_held →
#: Ops, order_creation_failed and sku_near_miss → Ecommerce, carrier_unmapped → Ops, refund_* →
#: Finance).
POLICY: Mapping[Action, Team | Role | None] = MappingProxyType({
    Action.READ: None,
    Action.SIGN_OUT: None,
    Action.ACT_ON_ISSUE: None,
    Action.EDIT_STOCK_RULES: Team.ECOMMERCE,
    Action.EDIT_CARRIER_MAPPINGS: Team.OPS,
    Action.EDIT_CATALOGUE: Team.ECOMMERCE,
    Action.PUBLISH_CATALOGUE: Team.ECOMMERCE,
    Action.RUN_AUDIT: Team.ECOMMERCE,
    Action.DECIDE_ORDERS: Team.OPS,
    Action.RETRY_ORDERS: Team.ECOMMERCE,
    Action.ACT_ON_REFUNDS: Team.FINANCE,
    Action.MANAGE_ACCOUNTS: Role.ADMIN,
    Action.READ_ACCOUNTS: Role.ADMIN,
})

#: Plain words for refusals ("Your role (finance) may not change stock rules.").
DESCRIPTIONS: Mapping[Action, str] = MappingProxyType({
    Action.READ: "look at the console or the API",
    Action.SIGN_OUT: "log out",
    Action.ACT_ON_ISSUE: "act on exceptions",
    Action.EDIT_STOCK_RULES: "change stock and price rules",
    Action.EDIT_CARRIER_MAPPINGS: "change carrier mappings",
    Action.EDIT_CATALOGUE: "change catalogue mappings or SKU links",
    Action.PUBLISH_CATALOGUE: "publish products",
    Action.RUN_AUDIT: "start an audit",
    Action.DECIDE_ORDERS: "accept or refuse orders",
    Action.RETRY_ORDERS: "retry orders",
    Action.ACT_ON_REFUNDS: "retry or mirror refunds",
    Action.MANAGE_ACCOUNTS: "manage accounts and API tokens",
    Action.READ_ACCOUNTS: "see the accounts and API tokens",
})

#: Actions that only look (a GET route takes one of these; every other route a write action).
READ_ACTIONS: frozenset[Action] = frozenset({Action.READ, Action.READ_ACCOUNTS})

#: Routes that need no log-in, by path, with why that is safe. Everything else needs a policy.
PUBLIC_ROUTES: Mapping[str, str] = MappingProxyType({
    "/webhooks/adobe-commerce": "authenticated by the RSA signature of the body, checked before parsing",
    "/webhooks/adobe-commerce/{hook}": "the same, one URL per hook: the URL names a plugin hook's event",
    "/webhooks/adobe-io": "Adobe I/O Events: the challenge echo (GET), and deliveries authenticated by Adobe's "
                          "RSA digital signatures of the body (POST), checked before parsing",
    "/healthz": "liveness: answers a constant, holds no data",
    "/readyz": "readiness: says only whether the database and engine are up",
    "/login": "the log-in form itself (CSRF-protected, throttled)",
    "/static": "the console's stylesheet and htmx, public files",
    "/openapi.json": "the API's schema: no data",
    "/docs": "the API's schema page: no data",
    "/docs/oauth2-redirect": "part of the schema page: no data",
    "/redoc": "the API's schema page: no data",
})


def allowed_roles(action: Action) -> frozenset[Role]:
    owner = POLICY[action]
    if owner is Role.ADMIN:
        return frozenset({Role.ADMIN})
    return frozenset(role for role in Role if owner is None or can_act_on(role, owner))


def may(role: Role, action: Action) -> bool:
    """Whether ``role`` may do ``action`` at all (per-record checks may narrow it further)."""
    return role in allowed_roles(action)
