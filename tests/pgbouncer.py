"""A PgBouncer for tests: a subprocess on a free port, pooling the test server in one mode.

Tests that need it skip when the ``pgbouncer`` binary is missing (Debian: ``apt-get install
pgbouncer``), CI included: ``.ci/run`` does not install it. The server behind it is the one of
``tests/pg.py`` (skipped, or failed in CI, when it does not answer).

    with pgbouncer("transaction") as bouncer, bouncer.schema_url(schema) as url:
        ...  # url: postgresql://…:<port>/db_<schema>?pgbouncer=transaction&schema=<schema>

In transaction mode graphflow cannot set a ``search_path`` (it would stay with a server
connection that other clients get next), so :meth:`PgBouncer.schema_url` gives the schema a
database entry of its own whose ``connect_query`` sets it — the set-up the docs recommend.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.pg import fresh_schema, require_postgres

#: Seconds PgBouncer gets to start listening.
START_TIMEOUT = 10


def pgbouncer_binary() -> str | None:
    """The ``pgbouncer`` executable (Debian installs it in /usr/sbin, not always on PATH)."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


def require_pgbouncer() -> str:
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip("the pgbouncer binary is not installed (Debian: apt-get install pgbouncer); CI does not install it")
    return binary


class PgBouncer:
    """A running PgBouncer in ``mode`` in front of the test server (see :func:`pgbouncer`)."""

    def __init__(self, binary: str, directory: Path, dsn: str, mode: str, pool_size: int) -> None:
        import psycopg

        server = psycopg.conninfo.conninfo_to_dict(dsn)
        self.mode = mode
        self.user = str(server.get("user") or "postgres")
        self.dbname = str(server.get("dbname") or self.user)
        target = {key: server[key] for key in ("host", "port", "password") if server.get(key)}
        self._target = " ".join(f"{key}={value}" for key, value in target.items())
        self._ini = directory / "pgbouncer.ini"
        self._aliases: dict[str, str] = {}
        with closing(socket.socket()) as probe:  # a free port (PgBouncer cannot take a bound socket)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(directory / "userlist.txt"),
            "admin_users": self.user,
            "pool_mode": mode,
            "default_pool_size": str(pool_size),
            "max_client_conn": "200",
            "log_connections": "0",
            "log_disconnections": "0",
        }
        if os.geteuid() == 0:  # PgBouncer refuses to run as root: it switches to this user
            settings["user"] = _unprivileged_user()
        self._settings = settings
        (directory / "userlist.txt").write_text(f'"{self.user}" ""\n')
        self._write()
        for path in (directory, *directory.iterdir()):  # readable by that user, for RELOAD
            path.chmod(path.stat().st_mode | stat.S_IRGRP | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
        self.output: list[str] = []
        self._up = threading.Event()
        self._process = subprocess.Popen(
            [binary, str(self._ini)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        # A thread drains the output (a full pipe would block PgBouncer) and spots readiness.
        threading.Thread(target=self._drain, name="pgbouncer-output", daemon=True).start()
        if not self._up.wait(START_TIMEOUT):
            self.close()
            raise RuntimeError("PgBouncer did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.output.append(line)
            if "process up" in line:
                self._up.set()
        self._up.set()  # it exited: the waiter sees the output

    def _write(self) -> None:
        databases = [f"{self.dbname} = {self._target} dbname={self.dbname}"]
        for alias, schema in self._aliases.items():
            query = f"connect_query='SET search_path TO {schema}'"
            databases.append(f"{alias} = {self._target} dbname={self.dbname} {query}")
        settings = [f"{key} = {value}" for key, value in self._settings.items()]
        self._ini.write_text("\n".join(["[databases]", *databases, "[pgbouncer]", *settings, ""]))

    def url(self, schema: str | None = None) -> str:
        """A store URL through this PgBouncer (in session mode, or without a schema)."""
        query = f"pgbouncer={self.mode}" + (f"&schema={schema}" if schema is not None else "")
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.dbname}?{query}"

    @contextmanager
    def schema_url(self, schema: str) -> Iterator[str]:
        """A store URL for ``schema``; in transaction mode through a database entry of its own.

        The entry's server connections are closed afterwards (the server's connections are few).
        """
        if self.mode == "session":  # graphflow sets the search_path of its sessions
            yield self.url(schema)
            return
        alias = f"db_{schema}"
        self._aliases[alias] = schema
        self._write()
        self.admin("RELOAD")  # done when it answers
        try:
            yield f"postgresql://{self.user}@127.0.0.1:{self.port}/{alias}?pgbouncer={self.mode}&schema={schema}"
        finally:
            self.admin(f"KILL {alias}")
            del self._aliases[alias]
            self._write()
            self.admin("RELOAD")

    def admin(self, command: str) -> None:
        """Run a command on PgBouncer's admin console (simple protocol: no parameters)."""
        import psycopg

        with psycopg.connect(f"postgresql://{self.user}@127.0.0.1:{self.port}/pgbouncer", autocommit=True) as conn:
            conn.execute(command)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
        self._process.wait(START_TIMEOUT)


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    pytest.skip("PgBouncer refuses to run as root and no unprivileged user (postgres, nobody) exists")


@contextmanager
def pgbouncer(mode: str, *, pool_size: int = 10) -> Iterator[PgBouncer]:
    """A PgBouncer pooling the test server in ``mode``; skips without the binary or the server."""
    binary = require_pgbouncer()
    dsn = require_postgres()
    with tempfile.TemporaryDirectory(prefix="graphflow-pgbouncer-") as directory:
        bouncer = PgBouncer(binary, Path(directory), dsn, mode, pool_size)
        try:
            yield bouncer
        finally:
            bouncer.close()


@asynccontextmanager
async def bouncer_store(bouncer: PgBouncer, **options: Any) -> AsyncIterator[Any]:
    """A started :class:`~graphflow.stores.postgres.PostgresStore` through ``bouncer``, in a fresh schema."""
    from graphflow.stores.postgres import PostgresStore

    async with fresh_schema() as (_, schema):
        with bouncer.schema_url(schema) as url:
            store = PostgresStore(url, **{"max_size": 4, **options})
            await store.start()
            try:
                yield store
            finally:
                await store.close()
