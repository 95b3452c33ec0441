"""The operations console: log-in, the dashboard pages, actions on issues, the operating guide,
``POST /api/exceptions/{id}/actions`` and ``/metrics``.

Pages need a logged-in browser session (anonymous → ``303`` to ``/login``); every unsafe request
of the pages needs the session's CSRF token (:func:`~marketbridge.web.console_auth.check_csrf` on
the whole page router). The JSON action route and ``/metrics`` need a bearer token. Every route but
the log-in form names its action in the role policy (``requires``, ``domain.auth.POLICY``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from marketbridge.domain.auth import Action, Role
from marketbridge.domain.issues import Team
from marketbridge.services import auth as auth_service
from marketbridge.services import issues as issue_service
from marketbridge.services.console import actions as console_actions
from marketbridge.services.console import dashboard
from marketbridge.web import (
    console_budgets,
    console_flow_pages,
    console_guide,
    console_metrics,
    console_users,
)
from marketbridge.web.console_auth import (
    check_csrf,
    end_session,
    login_throttle,
    may_act,
    safe_next,
    session_user,
    start_session,
)
from marketbridge.web.console_templates import render
from marketbridge.web.deps import (
    ConsoleDep,
    ConsoleUser,
    PeopleDep,
    RuntimeDep,
    SessionDep,
    console_actions_on,
)
from marketbridge.web.params import DbId
from marketbridge.web.policy import PageReader, Reader, requires

router = APIRouter()
pages = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
api = APIRouter(tags=["exceptions"])

SigningOut = Annotated[ConsoleUser, Depends(requires(Action.SIGN_OUT, "session"))]
PageActor = Annotated[ConsoleUser, Depends(requires(Action.ACT_ON_ISSUE, "session"))]
ApiActor = Annotated[ConsoleUser, Depends(requires(Action.ACT_ON_ISSUE))]


# --- log-in -----------------------------------------------------------------------------------------


@pages.get("/login", response_class=HTMLResponse)
def login_form(request: Request, people: PeopleDep, next: str = "/") -> Response:
    if session_user(request, people) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "console/login.html", next=safe_next(next), error=None, name="")


@pages.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    people: PeopleDep,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    client = request.client.host if request.client else ""
    wait = login_throttle.wait_for(people, name, client)
    if wait > 0:
        return render(request, "console/login.html", status_code=429, next=safe_next(next), name=name,
                      error=f"Too many failed attempts. Try again in {_minutes(wait)}.")
    user = auth_service.authenticate(people, name.strip(), password)
    if user is None:
        login_throttle.failed(people, name, client)
        issue_service.audit(session, name.strip()[:64] or "(blank)", "login.failed", "user", name.strip()[:255])
        return render(request, "console/login.html", status_code=401, next=safe_next(next),
                      error="That name and password do not match an active account.", name=name)
    login_throttle.succeeded(people, name, client)
    start_session(request, user)
    issue_service.audit(session, user.name, "login", "user", user.name)
    return RedirectResponse(safe_next(next), status_code=303)


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60) + 1
    return "a minute" if minutes == 1 else f"{minutes} minutes"


@pages.post("/logout")
def logout(request: Request, session: SessionDep, user: SigningOut) -> Response:
    issue_service.audit(session, user.name, "logout", "user", user.name)
    end_session(request, user)
    return RedirectResponse("/login", status_code=303)


# --- overview -----------------------------------------------------------------------------------------


@pages.get("/", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep, queries: ConsoleDep, runtime: RuntimeDep,
             user: PageReader) -> Response:
    from marketbridge.web import console_flow_pages

    return render(
        request,
        "console/overview.html",
        flows=dashboard.flow_health(runtime, queries),
        teams=dashboard.open_issues_by_team(queries),
        api_usage=dashboard.api_usage(),
        highlights=console_flow_pages.overview_highlights(session, runtime),
        recent=dashboard.list_issues(queries, limit=8),
    )


# --- issues ---------------------------------------------------------------------------------------

StateFilter = Literal["active", "open", "acknowledged", "resolved", "ignored", "all"]


@pages.get("/exceptions", response_class=HTMLResponse)
def issues_page(
    request: Request,
    queries: ConsoleDep,
    runtime: RuntimeDep,
    user: PageReader,
    team: Team | None = None,
    state: StateFilter = "active",
    type: str | None = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    records = dashboard.list_issues(
        queries, team=team.value if team else None, state=state, type_code=type or None, search=q or None
    )
    template = "console/_exception_rows.html" if request.headers.get("HX-Request") and \
        request.headers.get("HX-Target") == "exception-rows" else "console/exceptions.html"
    return render(
        request,
        template,
        records=records,
        team=team.value if team else "",
        state=state,
        type_code=type or "",
        q=q or "",
        types=dashboard.issue_types(),
        actions_for=lambda record: console_actions.available_actions(record, runtime.flow_actions),
        flow_actions_for=runtime.flow_actions.for_type,
        may_act=lambda record: may_act(user, record.owner),
    )


def _record_or_404(queries: ConsoleDep, record_id: int) -> dashboard.IssueRecordRow:
    record = dashboard.issue_record(queries, record_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no exception number {record_id}.")
    return record


@pages.get("/exceptions/{record_id}", response_class=HTMLResponse)
def issue_detail(request: Request, queries: ConsoleDep, runtime: RuntimeDep, user: PageReader,
                 record_id: DbId) -> Response:
    record = _record_or_404(queries, record_id)
    return render(
        request,
        "console/exception_detail.html",
        record=record,
        type=dashboard.issue_types().get(record.type),
        history=dashboard.issue_history(queries, record_id),
        actions=console_actions.available_actions(record, runtime.flow_actions),
        flow_actions=runtime.flow_actions.for_type(record.type),
        can_act=may_act(user, record.owner),
        message=None,
        error=None,
    )


@pages.post("/exceptions/{record_id}/actions/{action}", response_class=HTMLResponse)
async def issue_action(
    request: Request, session: SessionDep, queries: ConsoleDep, runtime: RuntimeDep, user: PageActor,
    record_id: DbId, action: str,
) -> Response:
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    error = message = None
    status_code = 200
    try:
        result = console_actions.perform(console_actions_on(runtime, session), runtime, user, record_id, action, params)
        message = result.message
    except LookupError as problem:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(problem)) from None
    except console_actions.ActionRefused as problem:
        error, status_code = str(problem), 403 if problem.forbidden else 400
    except console_actions.ActionFailed as problem:
        session.rollback()
        error, status_code = str(problem), 502
    session.flush()
    record = _record_or_404(queries, record_id)
    context: dict[str, Any] = {
        "record": record,
        "message": message,
        "error": error,
        "actions": console_actions.available_actions(record, runtime.flow_actions),
        "flow_actions": runtime.flow_actions.for_type(record.type),
        "can_act": may_act(user, record.owner),
    }
    if request.headers.get("HX-Request"):
        # htmx swaps only the record's card; a 4xx would not be swapped by default, so answer 200
        # with the error shown in the card itself.
        return render(request, "console/_exception_card.html", **context)
    if error is None:
        return RedirectResponse(f"/exceptions/{record_id}", status_code=303)
    return render(
        request,
        "console/exception_detail.html",
        status_code=status_code,
        type=dashboard.issue_types().get(record.type),
        history=dashboard.issue_history(queries, record_id),
        **context,
    )


# --- activity (audit log) and the guide -------------------------------------------------------------


@pages.get("/activity", response_class=HTMLResponse)
def activity_page(request: Request, queries: ConsoleDep, user: PageReader,
                  actor: str | None = None) -> Response:
    entries = dashboard.activity(queries, actor=actor or None, show_login_names=user.role == Role.ADMIN)
    return render(request, "console/activity.html", entries=entries, actor=actor or "")


@pages.get("/guide", response_class=HTMLResponse)
def guide_index(request: Request, user: PageReader) -> Response:
    return render(request, "console/guide.html", title="Operating guide",
                  html=console_guide.render_guide("index"), guides=console_guide.GUIDES, current="index")


@pages.get("/guide/{team}", response_class=HTMLResponse)
def guide_page(request: Request, user: PageReader, team: str) -> Response:
    if team not in console_guide.GUIDES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no guide by that name.")
    return render(request, "console/guide.html", title=console_guide.GUIDES[team],
                  html=console_guide.render_guide(team), guides=console_guide.GUIDES, current=team)


# --- JSON API and metrics -------------------------------------------------------------------------------


class ActionRequest(BaseModel):
    """``POST /api/exceptions/{id}/actions``: one action, with its parameters (e.g. ``assignee``)."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    assignee: str | None = Field(default=None, max_length=64)
    params: dict[str, Annotated[str, Field(max_length=255)]] = Field(default_factory=dict)


# name= keeps the operation id and summary that /openapi.json has always given this route.
@api.post(
    "/api/exceptions/{record_id}/actions",
    name="act_on_exception",
    response_model=issue_service.IssueActionResult,
    responses={403: {"description": "Your role may not act on this team's exceptions."},
               404: {"description": "No such exception."},
               409: {"description": "The action is not possible in the record's state."},
               502: {"description": "The flow could not carry the action out."}},
)
def act_on_issue(
    record_id: DbId, body: ActionRequest, session: SessionDep, runtime: RuntimeDep, user: ApiActor
) -> dict[str, Any]:
    """Act on an exception as the token's user (same rules and audit log as the dashboard)."""
    params = dict(body.params)
    if body.assignee is not None:
        params["assignee"] = body.assignee
    try:
        result = console_actions.perform(console_actions_on(runtime, session), runtime, user, record_id, body.action, params)
    except LookupError as problem:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(problem)) from None
    except console_actions.ActionRefused as problem:
        code = status.HTTP_403_FORBIDDEN if problem.forbidden else status.HTTP_409_CONFLICT
        raise HTTPException(code, str(problem)) from None
    except console_actions.ActionFailed as problem:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(problem)) from None
    session.flush()
    return {"message": result.message, "exception": issue_service.to_dict(result.record)}


@api.get("/metrics", tags=["metrics"], response_class=Response)
def metrics(session: SessionDep, runtime: RuntimeDep, user: Reader) -> Response:
    """Prometheus text exposition (needs a bearer token like the JSON API)."""
    body, content_type = console_metrics.exposition(runtime, session)
    return Response(body, media_type=content_type)


# the flow pages and user management come after this module's own pages (route order)
pages.include_router(console_flow_pages.router)
pages.include_router(console_users.router)
pages.include_router(console_budgets.router)
router.include_router(pages)
router.include_router(api)
router.include_router(console_budgets.api)

__all__ = ["router"]
