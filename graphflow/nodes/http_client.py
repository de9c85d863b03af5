"""The HTTP side of WorkflowHttpRequest: the egress-enforcing client and the request itself.

Imported on the first request (httpx and httpcore are slow to import); the node's model lives in
:mod:`graphflow.nodes.http`.

How the egress policy is enforced:

* Each hop's URL passes :meth:`EgressPolicy.check_url` (scheme, port, no ``user@``). Redirects are
  followed here, not by httpx, so every hop is checked, credentials are not carried to another
  origin, and the chain stops at ``max_redirects``.
* Addresses are checked where the connection is made. :class:`EgressClient` gives httpcore a
  network backend whose ``connect_tcp`` resolves the host, refuses if *any* address is not allowed,
  and connects to one of those checked addresses (never to the name again): DNS rebinding between
  the check and the connect is not possible. The URL keeps its host name, so the ``Host`` header,
  TLS SNI and certificate verification are the ordinary ones, and pooled connections are keyed by
  host name (a connection verified for one name is never reused for another). No proxy, no
  ``.netrc``: the client ignores the environment.

Client reuse: a host that wants connection pooling creates one :class:`EgressClient` and passes
it as ``services={"http_client": client}`` (it owns and closes it); otherwise each request uses a
short-lived client of its own.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio
import httpcore
import httpx

from graphflow.abc import NodeContext
from graphflow.exceptions import NodeExecutionError
from graphflow.nodes.egress import DEFAULT_EGRESS_POLICY, EgressPolicy
from graphflow.nodes.http_decode import ACCEPT_ENCODING, BodyDecodingError, BoundedBody

if TYPE_CHECKING:
    from graphflow.nodes.http import HttpRequestNode

__all__ = ["EgressClient", "egress_of", "send_request"]

#: Headers kept when a redirect leaves the origin; everything else (credentials) is dropped.
_CROSS_ORIGIN_HEADERS = frozenset({"accept", "accept-language", "content-type", "user-agent"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SAFE_METHODS = frozenset({"GET", "HEAD"})


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the policy checked, resolving each name once per connection."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._policy.resolve_and_check(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from None
        error: Exception = httpcore.ConnectError(f"no address to connect to for {host!r}")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise NodeExecutionError("unix sockets are not allowed", code="egress_denied", retryable=False)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """Raise httpcore's errors as httpx's, as httpx's own transport does."""
    try:
        yield
    except Exception as exc:
        for source, target in _HTTPCORE_ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream  # httpcore's pool stream: async-iterable, with aclose()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class _EgressTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that connects through :class:`_PinnedBackend`."""

    def __init__(self, policy: EgressPolicy, *, verify: ssl.SSLContext | bool, limits: httpx.Limits):
        self._policy = policy
        if isinstance(verify, ssl.SSLContext):
            context = verify
        else:
            context = _default_ssl_context() if verify else httpx.create_ssl_context(verify=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._policy.check_url(request.url)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


@functools.lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    # Building a context loads the CA bundle (milliseconds): do it once, share it.
    return httpx.create_ssl_context(trust_env=False)


class EgressClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose every connection passes an :class:`EgressPolicy`.

    Share one per executor for connection pooling::

        async with EgressClient(policy) as client:
            executor = Executor(services={"http_client": client, "egress_policy": policy})

    Import it as ``graphflow.EgressClient`` or from :mod:`graphflow.nodes.http`.

    Args:
        policy: the egress policy every URL and every connected address must pass.
        verify: verify TLS certificates (``True``), or the ``ssl.SSLContext`` to use.
        limits: connection-pool limits.
    """

    def __init__(
        self,
        policy: EgressPolicy = DEFAULT_EGRESS_POLICY,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.policy = policy
        transport = _EgressTransport(policy, verify=verify, limits=limits or httpx.Limits())
        super().__init__(transport=transport, trust_env=False, follow_redirects=False)


async def send_request(node: HttpRequestNode, input: Any, ctx: NodeContext) -> dict[str, Any]:
    """Run ``node`` (its ``run``): render the request from its compiled templates and send it.

    Raises:
        NodeExecutionError: with the codes :class:`~graphflow.nodes.http.HttpRequestNode` lists.
    """
    policy, shared = egress_of(ctx.services)
    url = _render_url(node, input, ctx)
    headers = {
        name: _text(value)
        for name, template in node._headers.items()
        if (value := ctx.evaluate_template(template, input)) is not None
    }
    for name, value in headers.items():
        if any(ch in value for ch in "\r\n\0"):
            raise NodeExecutionError(
                f"header {name!r} contains a line break or NUL", code="invalid_request", retryable=False
            )
    content = _render_body(node, input, ctx, headers)
    if "accept-encoding" not in _lower(headers):
        headers["Accept-Encoding"] = ACCEPT_ENCODING  # only codings decoded step by step
    idem = node.idempotency_header
    if idem and node.method not in _SAFE_METHODS and idem.lower() not in _lower(headers):
        headers[idem] = ctx.idempotency_key
    tracing = getattr(ctx.run.executor, "tracing", None)  # a bare NodeContext may have no executor
    if tracing is not None:  # the called service continues this node's trace
        tracing.inject(headers)
    try:
        with anyio.fail_after(node.request_timeout):
            if shared is not None:
                return await _exchange(node, shared, policy, url, headers, content)
            async with EgressClient(policy) as client:
                return await _exchange(node, client, policy, url, headers, content)
    except (TimeoutError, httpx.TimeoutException):
        raise NodeExecutionError(
            f"{node.method} {_origin_path(url)} timed out after {node.request_timeout:g}s",
            code="http_timeout",
        ) from None
    except httpx.HTTPError as exc:
        raise NodeExecutionError(
            f"{node.method} {_origin_path(url)} failed: {exc}", code="http_connection_error"
        ) from exc


def _render_url(node: HttpRequestNode, input: Any, ctx: NodeContext) -> httpx.URL:
    assert node._url is not None  # prepare() compiled it, or the graph did not load
    value = node._url.render(lambda template: ctx.evaluate_template(template, input))
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise NodeExecutionError(
            f"{value[:200]!r} is not a valid URL: {exc}", code="invalid_url", retryable=False
        ) from None
    params: list[tuple[str, str | int | float | bool | None]] = []
    for name, template in node._query.items():
        value = ctx.evaluate_template(template, input)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                params.append((name, _text(item)))
    return url.copy_merge_params(params) if params else url


def _render_body(node: HttpRequestNode, input: Any, ctx: NodeContext, headers: dict[str, str]) -> bytes | None:
    if node._body is None:
        return None
    value = ctx.evaluate_template(node._body, input)
    if value is None:
        return None
    if isinstance(value, str):
        media, data = "text/plain; charset=utf-8", value.encode()
    else:
        media = "application/json"
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if "content-type" not in _lower(headers):
        headers["Content-Type"] = media
    return data


async def _exchange(
    node: HttpRequestNode,
    client: httpx.AsyncClient,
    policy: EgressPolicy,
    url: httpx.URL,
    headers: dict[str, str],
    content: bytes | None,
) -> dict[str, Any]:
    method: str = node.method
    for _ in range(node.max_redirects + 1):
        policy.check_url(url)
        request = client.build_request(method, url, headers=headers, content=content, timeout=node.request_timeout)
        response = await client.send(request, stream=True)
        try:
            location = response.headers.get("location", "").strip()
            if not (node.follow_redirects and response.status_code in _REDIRECTS and location):
                return await _result(node, response)
        finally:
            await response.aclose()
        try:
            target = url.join(location)
        except httpx.InvalidURL as exc:
            raise NodeExecutionError(
                f"redirect to an invalid URL {location[:200]!r}: {exc}", code="http_invalid_redirect", retryable=False
            ) from None
        if _origin(target) != _origin(url):
            keep = _CROSS_ORIGIN_HEADERS | {(node.idempotency_header or "").lower()}
            headers = {k: v for k, v in headers.items() if k.lower() in keep}
        if _redirect_method(response.status_code, method) != method:
            method, content = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        url = target
    raise NodeExecutionError(
        f"{node.method} {_origin_path(url)}: more than {node.max_redirects} redirects",
        code="http_too_many_redirects",
        retryable=False,
    )


async def _result(node: HttpRequestNode, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if node.fail_on_status and status >= 400:
        raise await _status_error(response)
    raw = await _read_limited(response, node.max_response_bytes)
    return {
        "status": status,
        "headers": dict(response.headers.items()),
        "body": _decode(response, raw),
        "url": str(response.url),
    }


def egress_of(services: Mapping[str, Any]) -> tuple[EgressPolicy, httpx.AsyncClient | None]:
    """The policy and the shared client (if any) the host configured."""
    policy = services.get("egress_policy")
    client = services.get("http_client")
    if policy is not None and not isinstance(policy, EgressPolicy):
        raise _misconfigured(f"services['egress_policy'] must be an EgressPolicy, got {type(policy).__name__}")
    if client is None:
        return policy or DEFAULT_EGRESS_POLICY, None
    if not isinstance(client, EgressClient):
        raise _misconfigured(
            "services['http_client'] must be a graphflow.nodes.http.EgressClient "
            f"(so every connection passes the egress policy), got "
            f"{type(client).__name__}"
        )
    if policy is not None and policy != client.policy:
        raise _misconfigured(
            "services['egress_policy'] differs from the policy of "
            "services['http_client']; create the client with the same policy"
        )
    return client.policy, client


def _misconfigured(message: str) -> NodeExecutionError:
    return NodeExecutionError(message, code="egress_misconfigured", retryable=False)


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    """Read the decoded body, failing as soon as it grows past ``limit`` bytes.

    The raw bytes are decoded step by step (:class:`BoundedBody`), so a compressed bomb never
    expands past the limit in memory.
    """
    declared = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "")
    if declared.isdigit() and int(declared) > limit and not encoding.strip():
        raise _too_large(response, limit)
    body = _bounded_body(response, limit)
    try:
        async for chunk in response.aiter_raw():
            if not body.feed(chunk):
                raise _too_large(response, limit)
    except BodyDecodingError as exc:
        raise _decoding_error(response, exc) from None
    return bytes(body.body)


def _bounded_body(response: httpx.Response, limit: int) -> BoundedBody:
    try:
        return BoundedBody(response.headers.get("content-encoding", ""), limit)
    except BodyDecodingError as exc:
        raise _decoding_error(response, exc) from None


def _decoding_error(response: httpx.Response, exc: BodyDecodingError) -> NodeExecutionError:
    code = "http_unsupported_encoding" if exc.unsupported else "http_decoding_error"
    return NodeExecutionError(f"{_origin_path(response.url)}: {exc}", code=code, retryable=False)


def _too_large(response: httpx.Response, limit: int) -> NodeExecutionError:
    return NodeExecutionError(
        f"the response of {_origin_path(response.url)} is larger than max_response_bytes "
        f"({limit} bytes); raise the limit or ask for less",
        code="http_response_too_large",
        retryable=False,
    )


async def _status_error(response: httpx.Response) -> NodeExecutionError:
    status = response.status_code
    try:
        snippet = BoundedBody(response.headers.get("content-encoding", ""), 500)
        async for chunk in response.aiter_raw():
            if not snippet.feed(chunk):
                break
        raw = bytes(snippet.body)
    except BodyDecodingError:
        raw = b""  # the status is what matters; its body could not be read
    text = raw.decode("utf-8", "replace")
    if status in (408, 429):
        code, retryable = f"http_status_{status}", True
    else:
        code, retryable = ("http_status_5xx", True) if status >= 500 else ("http_status_4xx", False)
    return NodeExecutionError(
        f"{response.request.method} {_origin_path(response.url)} returned {status} "
        f"{response.reason_phrase}: {text[:200]}",
        code=code,
        retryable=retryable,
        details={"status": status, "body": text},
    )


def _decode(response: httpx.Response, raw: bytes) -> Any:
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise NodeExecutionError(
                f"{_origin_path(response.url)} sent {media} that is not valid JSON: {exc}",
                code="http_invalid_json",
                retryable=False,
            ) from None
    try:
        return raw.decode(response.charset_encoding or "utf-8", "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _redirect_method(status: int, method: str) -> str:
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET"
    return method


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _origin_path(url: httpx.URL) -> str:
    """The URL without query or fragment (queries may carry secrets; errors are journaled)."""
    return str(url.copy_with(query=None, fragment=None))


def _lower(headers: Mapping[str, str]) -> set[str]:
    return {name.lower() for name in headers}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
