"""``commit_after_webhook``: a save whose ``*_save_after`` hook is called before the save commits.

Magento's ``AbstractDb::save()`` opens a transaction, writes, runs ``afterSave()`` (which
dispatches ``<prefix>_save_after``), and only then commits; ``<prefix>_save_commit_after`` is
dispatched by the commit callback, after the *outermost* transaction ends
(``Framework/Model/ResourceModel/AbstractResource::commit``). A synchronous observer hook on
``*_save_after`` therefore reaches the receiver while the new values are invisible to any other
connection: a re-read made at once sees the old ones (docs/research/issue-14-magento.md §3).

The simulator reproduces that when asked (off by default: it holds the saving request open): the
source-item writes of a request that emitted such a hook are rolled back to the old values when
the handler returns (so the REST API shows the old ones), the request waits until those hooks are
answered, then ``delay`` seconds more (the rest of the PHP request), then writes the new values
("commits") and answers.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import SandboxState


def before_commit(name: str) -> bool:
    """Hooks Magento calls inside the saving transaction (observers of ``*_save_after``)."""
    return name.startswith("observer.") and name.endswith("_save_after")


class PendingCommit:
    """The source-item writes of one request, and the early hooks that must be answered first."""

    def __init__(self) -> None:
        self.before: dict[tuple[str, str], tuple[float, int] | None] = {}
        self.after: dict[tuple[str, str], tuple[float, int]] = {}
        self.early: list[threading.Event] = []

    def note(self, state: SandboxState, sku: str, source_code: str) -> None:
        """Called before a source item is written: remember its value before the request."""
        key = (sku, source_code)
        if key not in self.before:
            current = state.source_items.get(sku, {}).get(source_code)
            self.before[key] = None if current is None else (current.quantity, current.status)

    def hold(self, state: SandboxState) -> bool:
        """At the end of the handler: put back the old values if an early hook went out. True when
        something is held (then :meth:`commit` must follow)."""
        if not self.early or not self.before:
            return False
        for (sku, source_code), old in self.before.items():
            current = state.source_items.get(sku, {}).get(source_code)
            if current is None:
                continue
            self.after[(sku, source_code)] = (current.quantity, current.status)
            if old is None:
                state.remove_source_item(sku, source_code)
            else:
                current.quantity, current.status = old
        return bool(self.after)

    @staticmethod
    def held(state: SandboxState) -> PendingCommit | None:
        """End the handler's transaction (under the state lock): the pending commit to finish
        once its early hooks are answered, or None when nothing is held back."""
        pending, state.pending_commit = state.pending_commit, None
        return pending if pending is not None and pending.hold(state) else None

    def wait_answered(self, timeout: float) -> None:
        for done in self.early:
            done.wait(timeout)

    async def finish(self, state: SandboxState, delay: float) -> None:
        """Wait for the early hooks' answers (the request's own thread calls them in Magento),
        then ``delay`` more, then "commit": the new values become visible."""
        await asyncio.to_thread(self.wait_answered, 10.0)
        await asyncio.sleep(delay)
        from .state import SourceItem

        with state.lock:
            for (sku, source_code), (quantity, status) in self.after.items():
                state._put_item(SourceItem(sku, source_code, quantity, status))


def emitter(state: SandboxState, send: Any) -> Any:
    """``state.emit``: send the hook, and note it on the request's pending commit if it is early."""

    def emit(name: str, data: dict[str, Any]) -> None:
        done = send(name, data)
        pending = state.pending_commit
        if pending is not None and before_commit(name) and done is not None:
            pending.early.append(done)

    return emit


__all__ = ["PendingCommit", "before_commit", "emitter"]
