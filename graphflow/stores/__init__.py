"""Store backends, one module each; the contract is :class:`graphflow.abc.Store`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphflow.abc import Store

__all__ = ["store_from_url"]


def store_from_url(url: str) -> Store:
    """Build a store from a URL: ``memory://`` (more backends arrive with the durable-stores issue).

    Raises:
        ValueError: the URL's scheme is not supported.
    """
    if url.startswith("memory:"):
        from graphflow.stores.memory import MemoryStore

        return MemoryStore()
    scheme = url.split(":", 1)[0]
    raise ValueError(f"unsupported store URL scheme {scheme!r}; use memory://")
