"""Structured logs: one logger tree (``graphflow.*``), a JSON formatter, and ids on every record.

Every graphflow logger is a child of ``graphflow`` (``graphflow.engine``, ``graphflow.scheduler``,
``graphflow.api``, ``graphflow.cli``…), so a host routes or silences them all at one name. A record
about a run or an automation carries its ids as record attributes (``run_id``, ``automation_id``,
``app_id``): :func:`run_logger` binds them, and :class:`JsonFormatter` writes them as fields.
Nothing is logged per node at ``INFO``: node-level detail is in the run's journal and events.

``graphflow serve``/``worker --log-format json`` call :func:`configure_logging`; a host embedding
the engine installs the formatter on its own handler::

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.getLogger("graphflow").addHandler(handler)
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

__all__ = ["CONTEXT_FIELDS", "JsonFormatter", "RunLogger", "configure_logging", "run_logger"]

#: The record attributes a JSON line carries when a record has them.
CONTEXT_FIELDS = ("app_id", "automation_id", "run_id", "event_id", "worker_id")

#: Attributes every ``LogRecord`` has: anything else on a record came from ``extra=`` (a field).
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line.

    Fields: ``ts`` (ISO-8601 UTC), ``level``, ``logger``, ``message``, then the context ids the
    record carries (:data:`CONTEXT_FIELDS`) and any other ``extra=`` value, then ``exc`` (the
    traceback) when there is one. A value that is not JSON is written as its ``repr``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in data:
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=repr, ensure_ascii=False)


class RunLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose records carry the ids it was bound to (merged under any ``extra=`` of a call)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the bound ids to the call's ``extra``."""
        bound: Mapping[str, Any] = self.extra or {}
        kwargs["extra"] = {**bound, **kwargs["extra"]} if "extra" in kwargs else bound
        return msg, kwargs


def run_logger(
    logger: logging.Logger, *, run_id: str | None = None, automation_id: str | None = None, app_id: str | None = None
) -> RunLogger:
    """``logger`` with the ids of a run (or an automation) on every record."""
    ids = {"run_id": run_id, "automation_id": automation_id, "app_id": app_id}
    return RunLogger(logger, {k: v for k, v in ids.items() if v is not None})


def configure_logging(
    format: Literal["text", "json"] = "text", *, level: int | str = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send the ``graphflow`` logger tree to ``stream`` (default stderr) as text or JSON lines.

    Replaces the handler a previous call installed (calling it twice does not double lines) and
    stops the tree's records from also reaching the root logger's handlers.
    """
    root = logging.getLogger("graphflow")
    for handler in list(root.handlers):
        if getattr(handler, "_graphflow", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._graphflow = True  # type: ignore[attr-defined]
    if format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
