"""The isolated evaluator: a child process that evaluates scripts the guard could not prove cheap.

Started by :mod:`graphflow.scripts.isolation` as ``python -m graphflow.scripts.worker <bytes>``.
It caps its own address space at its size after start-up plus ``<bytes>`` (``RLIMIT_AS``), then
answers requests on stdin/stdout, one at a time, until stdin closes. Each request is a pickled
``(source, limits, input, env, nodes)``; each reply is ``("ok", value, lines)``, ``("limit",
message, lines)`` or ``("error", message, lines)``. A script that exhausts the cap ends the
process (a Python ``MemoryError`` is answered first; the CEL binding aborts), and the parent,
which also enforces the time budget, replaces it.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import Any, BinaryIO

__all__ = ["main", "read_frame", "write_frame"]

_HEADER = struct.Struct("!Q")


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    """Write one length-prefixed frame and flush."""
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes | None:
    """Read one frame; ``None`` at end of stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack(header)
    payload = stream.read(length)
    return payload if len(payload) == length else None


def _cap_memory(extra: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (current + extra, current + extra))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError, ImportError):  # pragma: no cover - not Linux: the time budget still holds
        pass


def _serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    from graphflow.exceptions import ScriptError, ScriptLimitError
    from graphflow.scripts.program import Script

    cache: dict[tuple[str, Any], Script] = {}
    write_frame(stdout, b"ready")
    while (request := read_frame(stdin)) is not None:
        lines: list[str] = []
        try:
            try:
                source, limits, input, env, nodes = pickle.loads(request)
            except Exception as exc:  # a host object in env/nodes that only the parent can rebuild
                raise ScriptError(f"the script's inputs are not plain data: {exc}") from None
            script = cache.get((source, limits))
            if script is None:
                if len(cache) > 256:
                    cache.clear()
                script = cache[(source, limits)] = Script.compile(source, limits=limits)
            value = script.evaluate_isolated(input, env, nodes, lines)
            reply: tuple[Any, ...] = ("ok", value, lines)
        except ScriptLimitError as exc:
            reply = ("limit", exc.message, lines)
        except ScriptError as exc:
            reply = ("error", exc.message, lines)
        except MemoryError:
            write_frame(stdout, pickle.dumps(("memory", "", [])))
            return
        except RecursionError:
            reply = ("limit", "the value nests too deeply", lines)
        write_frame(stdout, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def main() -> None:
    """Run the worker on this process's stdin/stdout."""
    _cap_memory(int(sys.argv[1]))
    # Frames go to a private copy of stdout; anything else writing to fd 1 lands on stderr.
    frames = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(sys.stdin.buffer, frames)


if __name__ == "__main__":
    main()
