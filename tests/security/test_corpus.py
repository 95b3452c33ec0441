"""Every hostile input of the corpus is refused and stores nothing (see corpus.py for the cases and
conftest.py for how a case is run and counted)."""

from __future__ import annotations

import pytest

from tests.security.conftest import World, run_case
from tests.security.corpus import GUARDED, ROUTES, Case, all_cases, route_table

CASES = all_cases()


def test_the_corpus_walks_the_real_route_table(world: World) -> None:
    """The cases were generated from an app built at collection time; the app under test must have
    the same routes, and the corpus must be large enough to mean something."""
    from fastapi.routing import APIRoute, iter_route_contexts

    served = {(m, c.path) for c in iter_route_contexts(world.app.routes) if isinstance(c.original_route, APIRoute)
              for m in (c.methods or ()) if m not in ("HEAD", "OPTIONS")}
    assert served == {(r.method, r.path) for r in ROUTES} == {(r.method, r.path) for r in route_table()}
    assert len(GUARDED) >= 60
    assert len(CASES) >= 500
    # the controls: a real static file, a real token and a real session do work on this app
    assert world.client.get("/static/console.css").status_code == 200
    assert world.client.get("/api/rules", headers={"Authorization": f"Bearer {world.tokens['ada']}"}).status_code == 200
    page = world.client.get("/rules", headers={"Cookie": f"marketbridge_session={world.cookies['ada']}"})
    assert page.status_code == 200 and "Log out" in page.text or "logout" in page.text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_and_nothing_is_stored(world: World, case: Case) -> None:
    run_case(world, case)
