"""FastAPI dependencies. Route signatures read like prose:

    def list_orders(session: SessionDep, user: Reader) -> ...

:func:`require_api_user` requires ``Authorization: Bearer <token>`` (tokens from ``marketbridge
tokens create``); routes do not use it (or ``ApiUser``) directly but through the role policy,
``web.policy.requires(action)`` / ``Reader``, which authenticates with it and then checks the role.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, TypeAlias

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.core import User
from marketbridge.ports.console import ConsoleQueries, IssueActionsUnit
from marketbridge.ports.people import PeopleRepository
from marketbridge.runtime import Runtime
from marketbridge.services import auth

#: The database session a request works in, for the signatures of the page helpers that take it
#: (they pass it on to the flows' views; the web layer writes no query itself).
DbSession: TypeAlias = Session
#: The signed-in person (console or API token), for ``Annotated[ConsoleUser, Depends(...)]``.
ConsoleUser: TypeAlias = User


def get_runtime_dep(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime_dep)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def people_on(request: Request, session: Session) -> PeopleRepository:
    """The users, tokens and log-in throttle (``runtime.people_store``) on the request's session, so
    an account change commits with its activity-log entry."""
    return get_runtime_dep(request).people_store.on_session(session)


def get_people(request: Request, session: SessionDep) -> PeopleRepository:
    return people_on(request, session)


#: ``services.auth`` / ``services.login_throttle``'s repository on the request's session (FastAPI
#: hands the same session to ``SessionDep`` and this within a request).
PeopleDep = Annotated[PeopleRepository, Depends(get_people)]


def console_queries(runtime: Runtime, session: Session) -> ConsoleQueries:
    """The console's read-only queries (``runtime.console_store``) on the request's session."""
    return runtime.console_store.on_session(session)


def get_console_queries(runtime: RuntimeDep, session: SessionDep) -> ConsoleQueries:
    return console_queries(runtime, session)


def console_actions_on(runtime: Runtime, session: Session) -> IssueActionsUnit:
    """An issue action's unit of work (``runtime.console_store``) on the request's session, for
    ``services.console.actions.perform``."""
    return runtime.console_store.actions_on(session)


#: ``services.console.dashboard``'s queries on the request's session.
ConsoleDep = Annotated[ConsoleQueries, Depends(get_console_queries)]

_bearer = HTTPBearer(auto_error=False, description="An API token from `marketbridge tokens create`.")


def require_api_user(
    people: PeopleDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "A bearer token is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    user = auth.user_for_token(people, credentials.credentials)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "The bearer token is not valid.", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


ApiUser = Annotated[User, Depends(require_api_user)]
