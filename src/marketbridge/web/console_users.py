"""The admin's users page: ``GET /users`` lists every account and token (with when each token was
last used); buttons disable or enable an account and revoke a token.

Admin role only: any other role gets ``403`` for the page and for every button. The buttons are
plain forms with the session's CSRF token, like every other console form (the page router checks
it). Each change goes to the audit log as the admin who made it. An admin cannot disable their own
account here (the CLI can), so the last admin cannot lock themself out by a mis-click.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from marketbridge.domain.auth import Action
from marketbridge.services import auth
from marketbridge.services import issues as issue_service
from marketbridge.web.console_templates import render
from marketbridge.web.deps import ConsoleUser, PeopleDep, SessionDep
from marketbridge.web.params import DbId
from marketbridge.web.policy import requires

router = APIRouter()
# The shared role policy (admin only), so the route-table test sees it and the API cannot drift.
AccountManager = Annotated[ConsoleUser, Depends(requires(Action.MANAGE_ACCOUNTS, "session"))]
AccountReader = Annotated[ConsoleUser, Depends(requires(Action.READ_ACCOUNTS, "session"))]


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, people: PeopleDep, user: AccountReader) -> Response:
    return render(request, "console/users.html", users=auth.list_users(people),
                  tokens=auth.list_tokens(people))


def _set_active(session: SessionDep, people: PeopleDep, user: ConsoleUser, user_id: int,
                active: bool) -> Response:
    target = auth.user_by_id(people, user_id)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such user.")
    if target.id == user.id and not active:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "You cannot disable your own account.")
    auth.set_active(people, target.name, active)
    issue_service.audit(session, user.name, "user.enable" if active else "user.disable", "user", target.name)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/disable")
def user_disable(session: SessionDep, people: PeopleDep, user: AccountManager, user_id: DbId) -> Response:
    return _set_active(session, people, user, user_id, False)


@router.post("/users/{user_id}/enable")
def user_enable(session: SessionDep, people: PeopleDep, user: AccountManager, user_id: DbId) -> Response:
    return _set_active(session, people, user, user_id, True)


@router.post("/tokens/{token_id}/revoke")
def token_revoke(session: SessionDep, people: PeopleDep, user: AccountManager, token_id: DbId) -> Response:
    try:
        info = auth.revoke_token(people, token_id)
    except auth.AuthError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such token.") from None
    issue_service.audit(session, user.name, "token.revoke", "user", info.user, token_id=token_id, label=info.label)
    return RedirectResponse("/users", status_code=303)
