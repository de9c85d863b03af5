"""In-process delivery of engine events to host listeners (blinker, kept behind this API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blinker import Signal

from graphflow.events import EngineEvent, NodeEvent

__all__ = ["Listener", "Notifier", "Subscription"]

Listener = Callable[[EngineEvent], Any]


class Subscription:
    """A handle returned by :meth:`Notifier.subscribe`; call :meth:`close` to stop listening."""

    def __init__(self, notifier: Notifier, receiver: Callable[..., None]) -> None:
        self._notifier = notifier
        self._receiver = receiver

    def close(self) -> None:
        """Stop delivering events to this listener (idempotent)."""
        self._notifier._signal.disconnect(self._receiver)
        self._notifier._receivers.pop(self._receiver, None)
        self._notifier._refresh()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Notifier:
    """Delivers engine events to synchronous listeners.

    ``wants_node_events`` lets the executor skip building per-node events nobody listens to.
    A listener that raises is disconnected from nothing and breaks nothing: its error is
    swallowed after being recorded in ``errors`` (a listener must not fail a run).
    """

    def __init__(self) -> None:
        self._signal = Signal()
        self._receivers: dict[Callable[..., None], bool] = {}
        self.wants_node_events = False
        self.wants_events = False
        self.errors: list[BaseException] = []

    def subscribe(self, listener: Listener, types: tuple[type[EngineEvent], ...] | None = None) -> Subscription:
        """Call ``listener(event)`` for every event (or only those of ``types``)."""
        wanted = types or (EngineEvent,)

        def receiver(sender: Any, event: EngineEvent) -> None:
            if isinstance(event, wanted):
                try:
                    listener(event)
                except Exception as exc:  # a listener must never fail a run
                    self.errors.append(exc)
                    del self.errors[:-100]

        self._receivers[receiver] = any(issubclass(NodeEvent, t) or issubclass(t, NodeEvent) for t in wanted)
        self._signal.connect(receiver, weak=False)
        self._refresh()
        return Subscription(self, receiver)

    def _refresh(self) -> None:
        self.wants_events = bool(self._receivers)
        self.wants_node_events = any(self._receivers.values())

    def publish(self, event: EngineEvent) -> None:
        """Deliver ``event`` to every listener."""
        if self.wants_events:
            self._signal.send(self, event=event)
