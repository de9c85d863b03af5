"""WorkflowHttpRequest: call an HTTP API under the host's egress policy.

This module holds the node's model (fields, validation, :meth:`HttpRequestNode.prepare`) and
imports no HTTP library, so loading a graph stays light. The request itself, the egress-enforcing
:class:`~graphflow.nodes.http_client.EgressClient` and everything else that needs httpx live in
:mod:`graphflow.nodes.http_client`, imported on the first request (httpx and httpcore cost
~150 ms to import). ``from graphflow.nodes.http import EgressClient`` keeps working: the name is
resolved on first access.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from graphflow.abc import NodeContext
from graphflow.exceptions import NodeExecutionError
from graphflow.graph.durations import Duration
from graphflow.graph.model import GraphContext, Node
from graphflow.nodes.egress import DEFAULT_EGRESS_POLICY
from graphflow.nodes.http_url import UrlTemplate, compile_url

if TYPE_CHECKING:
    from graphflow.nodes.http_client import EgressClient
    from graphflow.scripts import Template

__all__ = ["EgressClient", "HttpRequestNode"]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_MIB = 1024 * 1024


class HttpRequestNode(Node, defer_build=True):
    """Sends an HTTP request; outputs ``{status, headers, body, url}``.

    ``url``, header values, ``query`` values and ``body`` are templates. A hole in ``url`` is
    encoded for where it stands (:mod:`graphflow.nodes.http_url`): in the path it is one
    percent-encoded segment, in the query a percent-encoded value; a hole that is the whole URL
    or its origin (``{{env.API}}/items``) is inserted as it is. A dict or list body is sent as
    JSON, a string as text. The response body is parsed when it is JSON, else text.
    Failures carry stable codes: ``egress_denied``, ``invalid_url``, ``dns_error``,
    ``http_timeout``, ``http_connection_error``, ``http_status_4xx`` (not retried),
    ``http_status_408``, ``http_status_429``, ``http_status_5xx``, ``http_response_too_large``
    (the decoded body: a compressed response is decompressed step by step and stopped at
    ``max_response_bytes``), ``http_unsupported_encoding``, ``http_decoding_error``,
    ``http_too_many_redirects``, ``http_invalid_json``. Non-GET/HEAD requests carry
    ``Idempotency-Key: <run_id:node_id>`` so a retried call can be de-duplicated by the server.

    Example::

        - kind: WorkflowHttpRequest
          id: create_ticket
          method: POST
          url: https://api.example.com/tickets
          headers: {Authorization: "Bearer {{env.TICKETS_TOKEN}}"}
          body: {title: "{{$.title}}", priority: 2}
          retry: {max_attempts: 3}
          on_success: notify
    """

    kind: Literal["WorkflowHttpRequest"] = "WorkflowHttpRequest"
    __slots__ = ("_body", "_headers", "_query", "_url")
    if TYPE_CHECKING:
        _url: UrlTemplate | None
        _headers: dict[str, Template | None]
        _query: dict[str, Template | None]
        _body: Template | None

    method: Method = Field("GET", description="The HTTP method.")
    url: str = Field(min_length=1, max_length=8192, description="Template producing the URL.")
    headers: dict[str, str] = Field(default_factory=dict, description="Header templates by name.")
    query: dict[str, Any] | None = Field(None, description="Query parameter templates by name.")
    body: Any = Field(None, description="Template for the body: dict/list as JSON, str as text.")
    request_timeout: Duration = Field(30.0, gt=0, description="Time limit of the whole exchange.")
    follow_redirects: bool = Field(True, description="Follow 301/302/303/307/308 responses.")
    max_redirects: int = Field(5, ge=0, le=20, description="Most redirects followed.")
    max_response_bytes: int = Field(
        5 * _MIB, ge=1, le=1024 * _MIB, description="Largest (decoded) response body accepted."
    )
    fail_on_status: bool = Field(True, description="Fail on 4xx and 5xx responses.")
    idempotency_header: str | None = Field(
        "Idempotency-Key", description="Header carrying ctx.idempotency_key on non-GET/HEAD calls."
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def prepare(self, graph: GraphContext) -> None:
        url = compile_url(self.url, graph)
        if url is not None and url.static:
            try:
                DEFAULT_EGRESS_POLICY.check_url(self.url)
            except NodeExecutionError as exc:
                graph.problem("url", exc.message, "write an http(s)://host[:port]/path URL without user:password@")
        headers: dict[str, Template | None] = {}
        fields = [(f"headers.{name}", name) for name in self.headers]
        if self.idempotency_header is not None:
            fields.append(("idempotency_header", self.idempotency_header))
        for field, name in fields:
            if not _TOKEN.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
                graph.problem(
                    field,
                    f"{name!r} is not a header this node can set",
                    "header names are tokens; Host, Content-Length, Transfer-Encoding "
                    "and Connection are set by the client",
                )
        for name, value in self.headers.items():
            headers[name] = graph.compile_template(f"headers.{name}", value)
        query = {k: graph.compile_template(f"query.{k}", v) for k, v in (self.query or {}).items()}
        body = graph.compile_template("body", self.body) if self.body is not None else None
        self.keep(_url=url, _headers=headers, _query=query, _body=body)

    async def run(self, input: Any, ctx: NodeContext) -> Any:
        from graphflow.nodes.http_client import send_request

        return await send_request(self, input, ctx)


def __getattr__(name: str) -> Any:
    # EgressClient subclasses httpx.AsyncClient: importing it here would import httpx.
    if name == "EgressClient":
        from graphflow.nodes.http_client import EgressClient

        globals()[name] = EgressClient
        return EgressClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
