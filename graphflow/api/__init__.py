"""The HTTP face of graphflow (``pip install 'graphflow[http]'``): REST + SSE over an :class:`~graphflow.Engine`.

``create_app(engine)`` returns a Starlette app serving ``/v1``; ``graphflow serve`` runs it on
uvicorn with an engine of its own. The API holds no business logic: each route calls
``engine.configs``, ``engine.automations``, ``engine.publish``/``explain``, ``engine.keys`` or
``engine.stream`` and maps errors to statuses (see docs/api.md).
"""

from graphflow.api.app import create_app
from graphflow.api.auth import HostAuth
from graphflow.api.operations import Settings

__all__ = ["HostAuth", "Settings", "create_app"]
