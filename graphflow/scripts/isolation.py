"""Isolated evaluation: worker processes that can be stopped when a script overruns its budget.

Why processes. The CEL binding evaluates in native code, holds the GIL throughout (measured: a
thread running a 300 x 300 comprehension for 2 s let the event loop's thread run once) and has
no interrupt or step limit, so neither a thread nor a cancel scope can stop it. A process can be
killed. The guard (:mod:`graphflow.scripts.guard`) runs every statement it can prove cheap
inline (~1 µs); only the rest come here, where a round trip costs ~0.1 ms.

How. A :class:`WorkerPool` keeps up to ``size`` pre-started ``python -m graphflow.scripts.worker``
processes (started on first need, reused). Each caps its own address space at start-up
(``RLIMIT_AS``: its size plus :attr:`~graphflow.scripts.ScriptLimits.max_memory`). A call sends
the script's source, limits and inputs, waits at most
:attr:`~graphflow.scripts.ScriptLimits.timeout` for the reply, and on overrun kills the worker
(a fresh one starts on the next call) and raises :class:`~graphflow.exceptions.ScriptLimitError`.
:meth:`WorkerPool.evaluate_async` waits in a thread, so the event loop and the engine's other
runs go on meanwhile; only the script's own node fails.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import io
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from graphflow.exceptions import ScriptError, ScriptLimitError
from graphflow.scripts.worker import read_frame, write_frame

if TYPE_CHECKING:
    from graphflow.scripts.program import ScriptLimits

__all__ = ["WorkerPool", "pool_for"]

#: Seconds a new worker may take to start (imports), outside any script's budget.
_START_TIMEOUT = 30.0
_SAFE_GLOBALS = {
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("datetime", "date"): datetime.date,
}


class _Unpickler(pickle.Unpickler):
    """Replies hold data only: refuse any class but the datetime types CEL returns."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"a worker reply may not contain {module}.{name}") from None


class _Worker:
    """One child process and its pipes."""

    def __init__(self, max_memory: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graphflow.scripts.worker", str(max_memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        if self._read(time.monotonic() + _START_TIMEOUT) != b"ready":
            self.kill()
            raise ScriptError("the isolated script evaluator did not start; check that graphflow is importable")

    def call(self, request: bytes, timeout: float) -> bytes | None:
        """Send a request; the reply, or ``None`` when the worker overran or died (it is then dead)."""
        assert self.process.stdin is not None
        try:
            write_frame(self.process.stdin, request)  # type: ignore[arg-type]
        except OSError:
            self.kill()
            return None
        reply = self._read(time.monotonic() + timeout)
        if reply is None:
            self.kill()
        return reply

    def _read(self, deadline: float) -> bytes | None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        buffer = bytearray()
        needed = 8
        header_done = False
        while len(buffer) < needed:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, max(needed - len(buffer), 65536 if header_done else 8 - len(buffer)))
            if not chunk:
                return None
            buffer += chunk
            if not header_done and len(buffer) >= 8:
                header_done = True
                needed = 8 + int.from_bytes(buffer[:8], "big")
        return read_frame(io.BytesIO(bytes(buffer)))

    def kill(self) -> None:
        """Stop the process and reap it."""
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class WorkerPool:
    """Up to ``size`` worker processes with one memory cap, shared by every thread.

    Args:
        max_memory: bytes each worker may allocate beyond its start-up size.
        size: most workers alive at once; callers beyond it wait for a free one.
    """

    def __init__(self, max_memory: int, size: int = 2) -> None:
        self.max_memory = max_memory
        self.size = size
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._alive = 0
        self._ready = threading.Condition()
        self.stopped = 0  # workers killed for overrunning (observable in tests and metrics)

    def evaluate(self, source: str, limits: ScriptLimits, input: Any, env: Any, nodes: Any) -> tuple[Any, list[str]]:
        """Evaluate in a worker, blocking the calling thread at most ``limits.timeout`` once started.

        Returns:
            The script's value and its ``println`` lines.

        Raises:
            ScriptLimitError: the script overran its time or memory budget and was stopped.
            ScriptError: it failed, or its inputs are not plain data.
        """
        try:
            request = pickle.dumps((source, limits, input, env, nodes), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            raise ScriptError(f"the script's inputs are not plain data: {exc}") from None
        worker = self._acquire()
        reply = worker.call(request, limits.timeout)
        self._release(worker, alive=reply is not None)
        if reply is None:
            self.stopped += 1
            code = worker.process.returncode
            if code is not None and code not in (-9, 0):
                raise ScriptLimitError(
                    f"the script was stopped: it needed more than {limits.max_memory:,} bytes of memory; "
                    "work on smaller inputs or split the work across a WorkflowMap node"
                )
            raise ScriptLimitError(
                f"the script was stopped after {limits.timeout * 1000:.0f} ms, its time budget; "
                "filter its inputs first or split the work across a WorkflowMap node"
            )
        status, value, lines = _Unpickler(io.BytesIO(reply)).load()
        if status == "ok":
            return value, lines
        if status == "memory":
            raise ScriptLimitError(f"the script was stopped: it needed more than {limits.max_memory:,} bytes of memory")
        error = ScriptLimitError(value) if status == "limit" else ScriptError(value)
        error.lines = lines  # type: ignore[attr-defined]
        raise error

    async def evaluate_async(
        self, source: str, limits: ScriptLimits, input: Any, env: Any, nodes: Any
    ) -> tuple[Any, list[str]]:
        """:meth:`evaluate` in a worker thread, so the event loop keeps serving other runs."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.evaluate, source, limits, input, env, nodes, abandon_on_cancel=True)

    def _acquire(self) -> _Worker:
        with self._ready:
            while not self._idle and self._alive >= self.size:
                self._ready.wait()
            if self._idle:
                worker = self._idle.pop()
                self._busy.add(worker)
                return worker
            self._alive += 1
        try:
            worker = _Worker(self.max_memory)
        except BaseException:
            with self._ready:
                self._alive -= 1
                self._ready.notify()
            raise
        with self._ready:
            self._busy.add(worker)
        return worker

    def _release(self, worker: _Worker, *, alive: bool) -> None:
        with self._ready:
            self._busy.discard(worker)
            if alive:
                self._idle.append(worker)
            else:
                self._alive -= 1
            self._ready.notify()

    @property
    def busy(self) -> int:
        """Workers evaluating a script right now."""
        return len(self._busy)

    def stop_all(self) -> None:
        """Kill every worker, busy ones too: their callers get :class:`ScriptLimitError` now."""
        with self._ready:
            busy = list(self._busy)
        for worker in busy:
            worker.kill()
        self.close()

    def close(self) -> None:
        """Stop the idle workers (busy ones stop when their caller returns them)."""
        with self._ready:
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
        for worker in idle:
            worker.kill()


_pools: dict[int, WorkerPool] = {}
_pools_lock = threading.Lock()


def pool_for(limits: ScriptLimits) -> WorkerPool:
    """The process-wide pool for ``limits.max_memory`` (created on first use)."""
    pool = _pools.get(limits.max_memory)
    if pool is None:
        with _pools_lock:
            pool = _pools.setdefault(limits.max_memory, WorkerPool(limits.max_memory, limits.workers))
    return pool


@atexit.register
def _close_pools() -> None:
    for pool in list(_pools.values()):
        pool.close()
