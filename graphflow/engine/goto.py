"""``Goto``: what a node returns to choose its successor.

It lives apart from the executor so node kinds can import it without the executor's imports
(asyncio, anyio, events): loading a graph registers every built-in kind, and that stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Goto"]


class Goto:
    """Returned by a node to choose its successor: ``Goto(target, value)``."""

    __slots__ = ("target", "value")

    def __init__(self, target: str | None, value: Any) -> None:
        self.target = target
        self.value = value
