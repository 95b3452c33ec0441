"""``requires(action)``: the FastAPI dependency that puts the role policy on a route.

One factory for the JSON API and the console, so the two cannot drift: the roles come from
:data:`marketbridge.domain.auth.POLICY`. ``via="token"`` authenticates with the bearer token
(``/api``, ``/metrics``: 401 without one); ``via="session"`` with the console's log-in cookie
(anonymous → redirect to ``/login``). A user whose role the policy does not allow gets ``403``.

The returned dependency carries ``policy_action`` so that the route-table test can tell that a
route has a policy (and which), and refuse a route without one::

    RuleEditor = Annotated[ConsoleUser, Depends(requires(Action.EDIT_STOCK_RULES))]

    @router.delete("/api/rules/{rule_id}")
    def rules_delete(rule_id: DbId, user: RuleEditor) -> ...
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, status

from marketbridge.domain.auth import DESCRIPTIONS, Action, Role, may
from marketbridge.web.console_auth import require_page_user
from marketbridge.web.deps import ConsoleUser, require_api_user

Via = Literal["token", "session"]


def _check(user: ConsoleUser, action: Action) -> ConsoleUser:
    try:
        role = Role(user.role)
    except ValueError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"User {user.name} has an unknown role.") from None
    if not may(role, action):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"Your role ({role.value.replace('_', ' ')}) may not {DESCRIPTIONS[action]}.")
    return user


@cache
def requires(action: Action, via: Via = "token") -> Callable[..., ConsoleUser]:
    """The dependency for one action (cached: the same object each time, so FastAPI runs it once)."""
    if via == "token":
        def dependency(user: Annotated[ConsoleUser, Depends(require_api_user)]) -> ConsoleUser:
            return _check(user, action)
    else:
        def dependency(user: Annotated[ConsoleUser, Depends(require_page_user)]) -> ConsoleUser:
            return _check(user, action)
    dependency.__name__ = f"requires_{action.value}_{via}"
    dependency.policy_action = action  # type: ignore[attr-defined]
    dependency.policy_via = via  # type: ignore[attr-defined]
    return dependency


def policies_of(dependant: Any) -> set[tuple[Action, Via]]:
    """The ``(action, via)`` pairs attached to a route's dependency tree (``route.dependant``)."""
    found: set[tuple[Action, Via]] = set()
    stack = [dependant]
    while stack:
        node = stack.pop()
        action = getattr(node.call, "policy_action", None)
        if action is not None:
            found.add((action, node.call.policy_via))
        stack.extend(node.dependencies)
    return found


Reader = Annotated[ConsoleUser, Depends(requires(Action.READ))]
PageReader = Annotated[ConsoleUser, Depends(requires(Action.READ, "session"))]
