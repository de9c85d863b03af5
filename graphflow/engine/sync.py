"""SyncEngine: the blocking twin of :class:`~graphflow.engine.engine.Engine` for Flask/Django hosts.

A thin wrapper, as APScheduler's ``Scheduler`` is over ``AsyncScheduler``: an AnyIO blocking
portal runs the async engine on an event loop in a background thread, and every call is
forwarded to it and waited for. The surface is the async one without ``await``::

    with SyncEngine() as engine:
        cfg = engine.configs.create("app_1", "digest.yaml")
        aut = engine.automations.create("app_1", name="Daily Digest", type="scheduled",
                                        schedule="0 9 * * *", config_id=cfg.id, enabled=True)
        engine.publish("app_1", "thread.created", {"thread_id": "thr_1"})
"""

from __future__ import annotations

import functools
import inspect
from contextlib import ExitStack
from types import TracebackType
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from graphflow.engine.engine import Engine
from graphflow.exceptions import ConflictError, EngineNotStartedError

__all__ = ["SyncEngine"]


class _Blocking:
    """Forwards attribute access to an async object, turning coroutine methods into blocking calls."""

    def __init__(self, portal: BlockingPortal, target: Any) -> None:
        self._portal = portal
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.iscoroutinefunction(value):

            @functools.wraps(value)
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._portal.call(functools.partial(value, *args, **kwargs))

            return call
        return value


class SyncEngine:
    """The blocking twin of :class:`Engine`; takes the same arguments.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`). ``configs`` and
    ``automations`` have the async services' methods, blocking; ``publish``, ``explain``,
    ``wait_for_run`` and ``cancel_run`` block too. Listeners passed to :meth:`subscribe` run on the
    engine's thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.engine = Engine(*args, **kwargs)
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None

    def start(self) -> SyncEngine:
        """Start the engine on a background event loop."""
        if self._stack is not None:
            raise ConflictError("this SyncEngine is already started: use one 'with SyncEngine() as engine:' block")
        stack = ExitStack()
        try:
            self._portal = stack.enter_context(start_blocking_portal())
            stack.enter_context(self._portal.wrap_async_context_manager(self.engine))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def stop(self) -> None:
        """Stop the engine and its thread (idempotent)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()
        self._portal = None

    def __enter__(self) -> SyncEngine:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _require(self) -> BlockingPortal:
        if self._portal is None:
            raise EngineNotStartedError("the engine is not started: use 'with SyncEngine() as engine:'")
        return self._portal

    @property
    def configs(self) -> Any:
        """Blocking ``engine.configs``."""
        return _Blocking(self._require(), self.engine.configs)

    @property
    def automations(self) -> Any:
        """Blocking ``engine.automations``."""
        return _Blocking(self._require(), self.engine.automations)

    @property
    def steering(self) -> Any:
        """Blocking ``engine.steering`` (list, get and answer steering requests)."""
        return _Blocking(self._require(), self.engine.steering)

    @property
    def keys(self) -> Any:
        """Blocking ``engine.keys``."""
        return _Blocking(self._require(), self.engine.keys)

    def publish(self, app_id: str, name: str, payload: Any, id: str | None = None) -> Any:
        """Blocking :meth:`Engine.publish`."""
        return self._require().call(functools.partial(self.engine.publish, app_id, name, payload, id))

    def explain(self, app_id: str, name: str, payload: Any = None) -> Any:
        """Blocking :meth:`Engine.explain`."""
        return self._require().call(functools.partial(self.engine.explain, app_id, name, payload))

    def wait_for_run(self, app_id: str, run_id: str, timeout: float | None = None) -> Any:
        """Blocking :meth:`Engine.wait_for_run`."""
        return self._require().call(functools.partial(self.engine.wait_for_run, app_id, run_id, timeout))

    def cancel_run(self, app_id: str, run_id: str) -> Any:
        """Blocking :meth:`Engine.cancel_run`."""
        return self._require().call(functools.partial(self.engine.cancel_run, app_id, run_id))

    def subscribe(self, listener: Any, types: Any = None) -> Any:
        """See :meth:`Engine.subscribe`."""
        return self.engine.subscribe(listener, types)
