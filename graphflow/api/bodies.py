"""Reading requests: bodies within the size limit, JSON or YAML by ``Content-Type``, query strings.

Every refusal is a :class:`~graphflow.exceptions.GraphflowError` raised before anything is
changed: 413 past the size limit, 415 for a media type the route does not read, 400
``validation_error`` (with a ``$.path`` per problem) for malformed or invalid input.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel
from starlette.requests import Request

from graphflow.api.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from graphflow.exceptions import Problem, ValidationError

__all__ = ["JSON_TYPES", "YAML_TYPES", "media_type", "parse_json", "parse_model", "parse_query", "read_body"]

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")

M = TypeVar("M", bound=BaseModel)


def media_type(request: Request) -> str:
    """The request's media type, lower case, without parameters (``""`` when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to be longer than ``limit`` bytes.

    Raises:
        PayloadTooLargeError: by ``Content-Length`` before reading, or while streaming.
        ValidationError: a ``Content-Length`` that is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ValidationError([Problem("$", "Content-Length must be a whole number of bytes")], subject="request")
        if int(declared) > limit:
            raise PayloadTooLargeError(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, request: Request, *, optional: bool) -> dict[str, Any]:
    """A JSON object body (``{}`` for an empty ``optional`` one).

    Raises:
        UnsupportedMediaTypeError: a non-empty body that is not ``application/json``.
        ValidationError: malformed JSON, or not an object.
    """
    if not raw.strip():
        if optional:
            return {}
        raise ValidationError([Problem("$", "the request body is empty; send a JSON object")], subject="request")
    kind = media_type(request)
    if kind not in JSON_TYPES:
        raise UnsupportedMediaTypeError(kind, JSON_TYPES)
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        message = f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise ValidationError([Problem("$", message)], subject="request") from None
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, bad UTF-8, absurd nesting
        message = f"malformed JSON: {exc}" if isinstance(exc, ValueError) else "malformed JSON: nested too deeply"
        raise ValidationError([Problem("$", message)], subject="request") from None
    if not isinstance(data, dict):
        raise ValidationError([Problem("$", "the request body must be a JSON object")], subject="request")
    return data


def _problems(exc: pydantic.ValidationError, unknown: str) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown {unknown} {str(error['loc'][-1])!r}"
        problems.append(Problem(path, message))
    return problems


def parse_model(model: type[M], data: Any, *, subject: str = "request", unknown: str = "field") -> M:
    """``data`` validated by ``model``.

    Raises:
        ValidationError: every problem, each at its ``$.path``.
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(_problems(exc, unknown), subject=subject) from None


def parse_query(model: type[M] | None, request: Request) -> M | None:
    """The query string validated by ``model`` (a repeated parameter: its last value).

    An operation without a query model takes no parameters: any is refused.

    Raises:
        ValidationError: every problem, at ``$.<parameter>``.
    """
    if model is None:
        if request.query_params:
            names = sorted(request.query_params)
            raise ValidationError(
                [Problem(f"$.{name}", f"unknown query parameter {name!r}") for name in names], subject="query string"
            )
        return None
    return parse_model(model, dict(request.query_params), subject="query string", unknown="query parameter")
