"""``@flow_workflow(name=...)``: ``@DBOS.workflow`` that also tells the Mirakl client which flow
the run works for (:mod:`marketbridge.call_flow`), so each marketplace call counts against it.

DBOS keeps a workflow's name in its records and tracing spans, not in anything a step can read
cheaply at call time; wrapping the function once, where it is declared, costs one context-variable
set per run and nothing per call. Recovery and queued runs call the registered (wrapped) function,
so they are counted too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from dbos import DBOS

from marketbridge.call_flow import acting_as, flow_of_workflow

F = TypeVar("F", bound=Callable[..., Any])


def flow_workflow(*, name: str, **options: Any) -> Callable[[F], F]:
    flow = flow_of_workflow(name)

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with acting_as(flow):
                return fn(*args, **kwargs)

        return DBOS.workflow(name=name, **options)(run)  # type: ignore[return-value]

    return decorate


__all__ = ["flow_workflow"]
