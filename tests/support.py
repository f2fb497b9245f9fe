"""Helpers shared by tests."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def traversable_tmpdir(prefix: str) -> Path:
    """A temp dir the cluster's unprivileged OS user can reach (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("RETAILGIS_TEST_TMP", "/tmp")))
    path.chmod(0o755)
    return path


# The one statement a web request opens with to take its scope role (row-level security,
# domain/access/rowsecurity.py); tests/security/test_row_security.py counts it on its own.
SCOPE_STATEMENT = "SELECT set_config('role'"


@contextmanager
def counted_statements(target: Any, *, scope: bool = False) -> Iterator[list[str]]:
    """Collect the SQL statements an engine (and any engine on the same database: the app's
    read-only requests have a pool of their own, ``api.db.read_engine``) or a connection
    executes inside the block (the request's scope statement only with ``scope=True``: at
    most one per request, whatever the query, and it would blur what these counts compare)."""
    statements: list[str] = []
    url = target.url if isinstance(target, Engine) else None

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if url is not None and conn.engine.url != url:
            return
        if scope or not statement.startswith(SCOPE_STATEMENT):
            statements.append(statement)

    listened = Engine if url is not None else target
    event.listen(listened, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(listened, "before_cursor_execute", count)


# graphql-transport-ws over starlette's test WebSocket
WS_PROTOCOL = ["graphql-transport-ws"]
_ws_reader = ThreadPoolExecutor(max_workers=4)


def ws_receive(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The next message of a test WebSocket, failing (not hanging) when none comes in time."""
    return _ws_reader.submit(ws.receive_json).result(timeout=timeout)  # type: ignore[no-any-return]
