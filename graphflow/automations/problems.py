"""Pydantic's validation errors as graphflow :class:`~graphflow.exceptions.Problem` s, each with its JSON path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphflow.exceptions import Problem

if TYPE_CHECKING:
    import pydantic

__all__ = ["model_problems"]


def model_problems(exc: pydantic.ValidationError, root: str = "$") -> list[Problem]:
    """One problem per error of ``exc``, at ``root`` + the error's location (``$.deliver[0].url``)."""
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field {str(error['loc'][-1])!r}"
        problems.append(Problem(root + loc, message))
    return problems
