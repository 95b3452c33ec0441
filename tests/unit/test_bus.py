"""The in-process message bus: commands have one handler whose result and error reach the caller;
events reach every handler, and one failing handler does not stop the others."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from marketbridge.bus import Command, Event, MessageBus, OrderRetryRequested, ShipmentsDue, UnknownMessage


@dataclass(frozen=True)
class Ping(Command):
    text: str


@dataclass(frozen=True)
class Happened(Event):
    n: int


def test_a_command_goes_to_its_one_handler_and_returns_its_result() -> None:
    bus = MessageBus()
    bus.register(Ping, lambda m: m.text.upper())
    assert bus.handle(Ping("hi")) == "HI"


def test_a_command_without_handler_is_a_wiring_error() -> None:
    with pytest.raises(UnknownMessage):
        MessageBus().handle(OrderRetryRequested("O-1", "wf"))


def test_a_second_handler_for_a_command_is_refused() -> None:
    bus = MessageBus()
    bus.register(Ping, lambda m: 1)
    with pytest.raises(ValueError):
        bus.register(Ping, lambda m: 2)


def test_a_command_handler_error_reaches_the_caller() -> None:
    bus = MessageBus()

    def boom(_m: Ping) -> None:
        raise RuntimeError("no")

    bus.register(Ping, boom)
    with pytest.raises(RuntimeError):
        bus.handle(Ping("x"))


def test_an_event_reaches_every_handler_in_order() -> None:
    bus = MessageBus()
    seen: list[tuple[str, int]] = []
    bus.register(Happened, lambda m: seen.append(("a", m.n)))
    bus.register(Happened, lambda m: seen.append(("b", m.n)))
    assert bus.handle(Happened(3)) is None
    assert seen == [("a", 3), ("b", 3)]


def test_an_event_nobody_listens_to_is_fine() -> None:
    assert MessageBus().handle(ShipmentsDue(((1, 1),))) is None


def test_a_failing_event_handler_is_isolated() -> None:
    bus = MessageBus()
    seen: list[int] = []

    def boom(_m: Happened) -> None:
        raise RuntimeError("broken listener")

    bus.register(Happened, boom)
    bus.register(Happened, lambda m: seen.append(m.n))
    bus.handle(Happened(7))  # does not raise
    assert seen == [7]
    assert bus.handlers_of(Happened)[0] is boom


def test_only_messages_are_accepted() -> None:
    bus = MessageBus()
    with pytest.raises(TypeError):
        bus.register(int, lambda m: m)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bus.handle("not a message")  # type: ignore[arg-type]


def test_messages_are_frozen() -> None:
    message = ShipmentsDue(((1, 2),))
    with pytest.raises(AttributeError):
        message.due = ()  # type: ignore[misc]
