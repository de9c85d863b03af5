"""Validation of an automation's ``deliver`` sinks: where a finished run's result goes.

Up to four sinks per automation, of any type (see :attr:`graphflow.records.Automation.deliver`);
each delivers the runs whose outcome is in its ``on`` (``completed`` and ``failed`` by default):

* ``{"kind": "webhook", "url", "secret", "headers", "on"}`` — POST the result as JSON, signed
  with HMAC-SHA256 when a ``secret`` is set (:mod:`graphflow.engine.delivery` says how);
* ``{"kind": "emit", "event", "on"}`` — publish an event in the run's app, with the result as
  its payload, one level deeper in the run's chain of events (so loops stay bounded);
* ``{"kind": "callback", "name", "on"}`` — call the host's coroutine registered under that name
  (``Engine(delivery_callbacks={name: fn})``).

The sinks are checked here, at the service boundary, and stored normalised (every field
present). A webhook's URL is also judged by the engine's egress policy when the automation is
created or updated (:func:`reach_problems`), so a URL the policy refuses is refused there, at
``$.deliver[i].url``, instead of failing every delivery. Secrets are stored (they sign each
delivery) and never shown (``Automation.to_dict`` redacts them), and an update that
sends a sink back with its secret redacted keeps the stored one (:func:`restore_secrets`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graphflow.automations.problems import model_problems
from graphflow.exceptions import GraphflowError, Problem, StoreError
from graphflow.records import REDACTED_SECRET, AutomationRun
from graphflow.stores.base import encode_json

if TYPE_CHECKING:
    from graphflow.nodes.egress import EgressPolicy
    from graphflow.triggers.catalogue import EventCatalogue

#: ``await callback(run)``: a host coroutine a ``callback`` sink names.
_Callback = Callable[[AutomationRun], Awaitable[None]]

__all__ = [
    "DELIVERY_OUTCOMES",
    "REDACTED",
    "CallbackEntry",
    "CallbackSink",
    "EmitSink",
    "WebhookSink",
    "callback_for",
    "reach_problems",
    "restore_secrets",
    "sink_problems",
]

#: The run outcomes a sink may deliver (a cancelled run delivers nothing).
DELIVERY_OUTCOMES: tuple[str, ...] = ("completed", "failed")
#: What the API shows instead of a webhook's secret; sent back on update, it keeps the stored one.
REDACTED = REDACTED_SECRET
#: Headers a sink may not set: the transport's own and the signature's.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "graphflow-delivery-id",
        "graphflow-timestamp",
        "graphflow-signature",
    }
)
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"
#: RFC 9110 field values as every HTTP client sends them: visible ASCII, spaces and tabs.
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_On = list[Literal["completed", "failed"]]


def _every_outcome() -> _On:
    return ["completed", "failed"]


class _Sink(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    on: _On = Field(default_factory=_every_outcome, min_length=1, max_length=2)


class WebhookSink(_Sink):
    """``{"kind": "webhook", "url", "secret", "headers", "on"}`` — POST the result as signed JSON."""

    kind: Literal["webhook"]
    url: str = Field(min_length=1, max_length=2000)
    secret: str | None = Field(None, min_length=16, max_length=256)
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)


class EmitSink(_Sink):
    """``{"kind": "emit", "event", "on"}`` — publish an event in the run's app with the result."""

    kind: Literal["emit"]
    event: str = Field(min_length=1, max_length=100)


class CallbackSink(_Sink):
    """``{"kind": "callback", "name", "on"}`` — call the host's coroutine registered under ``name``."""

    kind: Literal["callback"]
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")


_MODELS: dict[str, type[_Sink]] = {"webhook": WebhookSink, "emit": EmitSink, "callback": CallbackSink}


def sink_problems(values: dict[str, Any], failed: frozenset[str]) -> list[Problem]:
    """Why ``values["deliver"]`` cannot be used; normalises the sinks in place (plain dicts, every field)."""
    import pydantic

    sinks = values.get("deliver")
    if not sinks or "deliver" in failed or not isinstance(sinks, list):
        return []
    problems: list[Problem] = []
    normal: list[dict[str, Any]] = []
    for index, sink in enumerate(sinks):
        where = f"$.deliver[{index}]"
        kind = sink.get("kind") if isinstance(sink, Mapping) else None
        model = _MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            problems.append(Problem(f"{where}.kind", f"unknown sink kind {kind!r}", "use webhook, emit or callback"))
            continue
        if kind == "webhook" and sink.get("secret") == REDACTED:
            problems.append(
                Problem(f"{where}.secret", "the secret is redacted", "send the secret itself (16 to 256 characters)")
            )
            sink = {**sink, "secret": None}
        try:
            data = model.model_validate(sink).model_dump()
        except pydantic.ValidationError as exc:
            problems.extend(model_problems(exc, where))
            continue
        data["on"] = sorted(set(data["on"]), key=DELIVERY_OUTCOMES.index)
        try:
            encode_json(data, where)  # what every store can hold (no NUL, no lone surrogate)
        except StoreError as exc:
            problems.append(Problem(where, exc.message))
            continue
        if kind == "webhook":
            problems.extend(_webhook_field_problems(where, data))
        normal.append(data)
    if len(normal) == len(sinks):
        values["deliver"] = normal
    return problems


def _webhook_field_problems(where: str, sink: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for name, value in sink["headers"].items():
        lowered = name.lower()
        if not re.match(_HEADER_NAME, name):
            problems.append(Problem(f"{where}.headers", f"{name[:100]!r} is not a valid header name"))
        elif lowered in RESERVED_HEADERS or lowered.startswith("graphflow-") or lowered == "user-agent":
            problems.append(Problem(f"{where}.headers", f"header {name!r} is set by graphflow itself"))
        elif lowered in seen:
            problems.append(Problem(f"{where}.headers", f"header {name!r} is given twice (names ignore case)"))
        elif value == REDACTED:
            problems.append(
                Problem(
                    f"{where}.headers.{name}", "the value is redacted", "send the value itself (or leave it as it was)"
                )
            )
        elif len(value) > 4000 or not _HEADER_VALUE.fullmatch(value):
            problems.append(
                Problem(
                    f"{where}.headers.{name}",
                    "a header value is at most 4000 printable ASCII characters (tabs allowed), on one line",
                )
            )
        seen.add(lowered)
    return problems


#: A callback, or a callback and the apps whose runs it may be handed (``Engine(delivery_callbacks=...)``).
CallbackEntry = _Callback | tuple[_Callback, Collection[str]]


def callback_for(entries: Mapping[str, CallbackEntry], name: str, app_id: str) -> _Callback | None:
    """The callback registered as ``name`` that may take runs of ``app_id`` (``None``: none may).

    A callback registered without apps takes every app's runs; a tenant naming a callback offered
    to other apps finds none (as if it did not exist).
    """
    entry = entries.get(name)
    if isinstance(entry, tuple):
        function, apps = entry
        return function if app_id in apps else None
    return entry


def callback_problems(sinks: Any, callbacks: Mapping[str, Any] | None, app_id: str | None) -> list[Problem]:
    """Callback sinks naming a callback this engine does not offer the app (only when it has callbacks).

    An engine without callbacks (a web process; the workers have them) cannot tell, and accepts
    the name; its deliveries then fail with "no delivery callback".
    """
    if not callbacks or app_id is None:
        return []
    problems: list[Problem] = []
    for index, sink in enumerate(sinks if isinstance(sinks, list) else []):
        name = sink.get("name") if isinstance(sink, Mapping) and sink.get("kind") == "callback" else None
        if isinstance(name, str) and callback_for(callbacks, name, app_id) is None:
            problems.append(Problem(f"$.deliver[{index}].name", f"no delivery callback named {name!r} for this app"))
    return problems


def reach_problems(sinks: Any, policy: EgressPolicy, catalogue: EventCatalogue) -> list[Problem]:
    """Why ``sinks`` cannot deliver from this engine (egress policy, event catalogue).

    A webhook URL its egress policy refuses; an emit of an event its catalogue does not have (or
    that graphflow fires itself). Judges the sinks as given, valid or not (the other problems of a sink are
    :func:`sink_problems`'s), so one error lists them all.

    A webhook URL's scheme, port and credentials are judged as the HTTP node judges them, and a
    host that is a literal address (in any encoding) by its address; a host name is resolved only
    when a delivery connects (every address it resolves to is checked then).
    """
    from graphflow.nodes.egress import parse_address
    from graphflow.triggers.catalogue import INTERNAL_EVENTS

    problems: list[Problem] = []
    for index, sink in enumerate(sinks if isinstance(sinks, list) else []):
        kind = sink.get("kind") if isinstance(sink, dict) else None
        if kind == "emit" and isinstance(sink.get("event"), str):
            try:
                event = catalogue.get(sink["event"])
            except GraphflowError as exc:
                problems.append(Problem(f"$.deliver[{index}].event", exc.message, "register the event first"))
                continue
            if event.internal or event.name in INTERNAL_EVENTS:
                problems.append(Problem(f"$.deliver[{index}].event", f"{event.name!r} is fired by graphflow itself"))
        url = sink.get("url") if kind == "webhook" else None
        if not isinstance(url, str):
            continue
        try:
            policy.check_url(url)
            host = _host(url)
            if parse_address(host) is not None and not policy.host_allowed(host):
                policy.check_address(host, host)
        except GraphflowError as exc:
            problems.append(
                Problem(
                    f"$.deliver[{index}].url",
                    f"{exc.code}: {exc.message.removeprefix('egress denied: ')}",
                    "webhooks go through the engine's egress policy (Engine(services={'egress_policy': ...}))",
                )
            )
    return problems


def _host(url: str) -> str:
    import httpx

    return str(httpx.URL(url.strip()).host)


def restore_secrets(sinks: Any, stored: Sequence[Mapping[str, Any]]) -> Any:
    """``sinks`` of an update with each redacted secret and header value replaced by the stored one.

    A sink sent back is matched with the stored webhook at the same position with the same URL, or
    else with the only stored webhook of that URL (two webhooks of one URL never swap secrets); a
    redacted value without a match is left as it is (and refused).
    """
    if not isinstance(sinks, list):
        return sinks
    webhooks = [s for s in stored if s.get("kind") == "webhook"]
    by_url: dict[Any, list[Mapping[str, Any]]] = {}
    for hook in webhooks:
        by_url.setdefault(hook.get("url"), []).append(hook)
    restored = []
    for index, sink in enumerate(sinks):
        if isinstance(sink, Mapping) and sink.get("kind", "webhook") == "webhook":
            same = stored[index] if index < len(stored) else None
            if same is None or same.get("kind") != "webhook" or same.get("url") != sink.get("url"):
                candidates = by_url.get(sink.get("url"), [])
                same = candidates[0] if len(candidates) == 1 else None
            if same is not None:
                sink = _restored(sink, same)
        restored.append(sink)
    return restored


def _restored(sink: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(sink)
    if out.get("secret") == REDACTED and stored.get("secret"):
        out["secret"] = stored["secret"]
    headers, kept = out.get("headers"), stored.get("headers") or {}
    if isinstance(headers, Mapping):
        out["headers"] = {
            name: kept[name] if value == REDACTED and name in kept else value for name, value in headers.items()
        }
    return out
