"""Webhook deliveries: a run's result POSTed as signed JSON, under the HTTP node's egress policy.

Each POST carries these headers (a receiver needs nothing of graphflow to check them):

* ``Graphflow-Delivery-Id``: the same on every retry of one run's delivery to one sink
  (``<run id>.<sink index>``): a receiver that stores the ids it handled ignores a repeat;
* ``Graphflow-Timestamp``: UNIX seconds when the attempt was made;
* ``Graphflow-Signature``: ``v1=`` and the hex HMAC-SHA256, keyed with the sink's ``secret``,
  of ``<timestamp>.<body>`` (the timestamp's digits, a dot, the raw body bytes); only when the
  sink has a secret. A receiver recomputes it over the body it received, compares it in
  constant time (``hmac.compare_digest``) and refuses a timestamp far from its clock (replays).

The connection goes through :class:`~graphflow.nodes.http_client.EgressClient` with the policy
the host gave the engine (``services["egress_policy"]``, or the shared
``services["http_client"]``): every address is checked where it is connected to, redirects are
not followed, the whole exchange is bounded by ``timeout`` and at most :data:`MAX_RESPONSE_BYTES`
of a response are read.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import anyio

from graphflow.exceptions import GraphflowError

__all__ = ["MAX_RESPONSE_BYTES", "WebhookError", "post_webhook", "signature"]

#: The most of a response a delivery reads (its start goes into the error of a failed attempt).
MAX_RESPONSE_BYTES = 4096
_USER_AGENT = "graphflow-delivery/1"


class WebhookError(GraphflowError, RuntimeError):
    """A webhook delivery failed; ``retryable`` says whether a later attempt may succeed."""

    code = "delivery_failed"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Graphflow-Signature`` header value: ``v1=`` + hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


async def post_webhook(
    sink: Mapping[str, Any],
    body: bytes,
    *,
    delivery_id: str,
    timestamp: int,
    services: Mapping[str, Any],
    timeout: float,
) -> int:
    """POST ``body`` to the sink's URL; return the (2xx) status.

    Raises:
        WebhookError: a status other than 2xx, a timeout or a connection error (retryable); the
            egress policy refusing the URL or an address, or a misconfigured policy (not).
    """
    import httpx

    from graphflow.nodes.http_client import EgressClient, egress_of

    headers = {
        **sink.get("headers", {}),
        "Content-Type": "application/json",
        "User-Agent": _USER_AGENT,
        "Graphflow-Delivery-Id": delivery_id,
        "Graphflow-Timestamp": str(timestamp),
    }
    if sink.get("secret"):
        headers["Graphflow-Signature"] = signature(sink["secret"], timestamp, body)
    url = sink["url"]
    try:
        policy, shared = egress_of(services)
        with anyio.fail_after(timeout):
            if shared is not None:
                return await _post(shared, url, headers, body, timeout)
            async with EgressClient(policy) as client:
                return await _post(client, url, headers, body, timeout)
    except TimeoutError:
        raise WebhookError(f"POST {_origin(url)} timed out after {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise WebhookError(f"POST {_origin(url)} failed: {exc}") from None
    except WebhookError:
        raise
    except GraphflowError as exc:  # egress_denied, invalid_url, dns_error, egress_misconfigured
        raise WebhookError(f"{exc.code}: {exc.message}", retryable=exc.code == "dns_error") from None


async def _post(client: Any, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
    request = client.build_request("POST", url, headers=headers, content=body, timeout=timeout)
    response = await client.send(request, stream=True)
    try:
        status: int = response.status_code
        if 200 <= status < 300:
            return status
        snippet = bytearray()
        async for chunk in response.aiter_raw():
            snippet += chunk[: MAX_RESPONSE_BYTES - len(snippet)]
            if len(snippet) >= MAX_RESPONSE_BYTES:
                break
        text = bytes(snippet).decode("utf-8", "replace")[:200]
        raise WebhookError(f"POST {_origin(url)} returned {status}: {text}", retryable=status != 410)
    finally:
        await response.aclose()


def _origin(url: str) -> str:
    """The URL without its query (queries may carry secrets; errors are stored)."""
    return url.split("?", 1)[0].split("#", 1)[0][:200]
