"""In-process figures of the GraphQL API, for ``graphql_load.py`` (or alone).

Per request wall and CPU time of the bench's three queries through the app in this
process (the ASGI app called directly: starlette, the endpoint, its worker thread; no
network, no HTTP client), once as served (the fast path) and once with every query run by
graphql-core; and the SQL statements one nested request issues on each path. CPU time is
this process's, so the figures hold on a machine shared with other work, where the load
figures vary (less so on a busy machine: caches and clock speed suffer there too).

Also the CPU accounting of the load runs: the CPU time of a process tree read from
``/proc`` (Linux), so that ``graphql_load.py`` can print CPU milliseconds per request for
the server, PostgreSQL and the load generator.

Usage alone: ``python bench/graphql_inprocess.py`` (the bench database must hold the city:
run ``graphql_load.py`` once).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event  # noqa: E402
from starlette.applications import Starlette  # noqa: E402

from api.app import create_app  # noqa: E402
from api.db import make_engine  # noqa: E402
from api.settings import Settings  # noqa: E402

RUNS = int(os.environ.get("BENCH_INPROCESS_RUNS", "60"))
WARM = 10
Queries = dict[str, tuple[str, dict[str, Any]]]


@contextmanager
def _app(url: str, *, fast_path: bool) -> Iterator[tuple[Starlette, list[str]]]:
    """A production app on the bench database; the list collects its SQL statements."""
    engine = make_engine(url)
    statements: list[str] = []

    # on every engine of this database: read-only requests have a pool of their own
    @event.listens_for(Engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if conn.engine.url == engine.url:
            statements.append(statement)

    settings = Settings(app_env="production", data_dir=Settings.from_env().data_dir)
    try:
        yield create_app(settings, engine, fast_path=fast_path), statements
    finally:
        event.remove(Engine, "before_cursor_execute", _count)
        engine.dispose()


async def _post(app: Starlette, token: str, query: str, variables: dict[str, Any]) -> None:
    """One POST /graphql through the ASGI app (no lifespan: the endpoint needs none)."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
    }  # fmt: skip
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    answer = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    if status != 200 or answer.get("errors"):
        raise SystemExit(f"in-process request failed: {status} {str(answer)[:300]}")


def per_request(url: str, token: str, queries: Queries) -> dict[tuple[str, str], dict[str, float]]:
    """p50 wall and CPU milliseconds per request, by (path, query)."""
    out: dict[tuple[str, str], dict[str, float]] = {}

    async def run(app: Starlette, path: str) -> None:
        for name, (query, variables) in queries.items():
            for _ in range(WARM):
                await _post(app, token, query, variables)
            walls, cpus = [], []
            for _ in range(RUNS):
                w, c = time.perf_counter(), time.process_time()
                await _post(app, token, query, variables)
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c)
            out[(path, name)] = {
                "wall_ms": round(statistics.median(walls) * 1000, 2),
                "cpu_ms": round(statistics.median(cpus) * 1000, 2),
            }

    for path, fast in (("served", True), ("graphql-core", False)):
        with _app(url, fast_path=fast) as (app, _):
            asyncio.run(run(app, path))
    return out


def statements(url: str, token: str, nested: str) -> dict[str, dict[int, list[str]]]:
    """The statements of one nested request at first:10 and first:100, by path (warm: the
    token and the document are known, as on a running server)."""
    out: dict[str, dict[int, list[str]]] = {}

    async def run(app: Starlette, seen: list[str], path: str) -> None:
        for first in (10, 100, 10, 100):  # the second pair is counted
            seen.clear()
            await _post(app, token, nested, {"first": first})
            out.setdefault(path, {})[first] = list(seen)

    for path, fast in (("served", True), ("graphql-core", False)):
        with _app(url, fast_path=fast) as (app, seen):
            asyncio.run(run(app, seen, path))
    return out


# --- CPU time of process trees (Linux /proc) ------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its waited-for children and its live descendants."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 (1-based), 12-15 after the name
    own = sum(int(v) for v in fields[11:15]) / _TICK
    return own + sum(tree_cpu(child) for child in _children(pid))


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def main() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import graphql_load as gl
    from benchdb import bench_database

    with bench_database() as url:
        token = gl.make_token(url)
        code, lng, lat = gl.pick_shop(url)
        figures = per_request(url, token, gl.bench_queries(code, lng, lat))
        counted = statements(url, token, gl.NESTED)
    for (path, name), f in figures.items():
        print(f"{path:13} {name:8} wall {f['wall_ms']:7.2f} ms  cpu {f['cpu_ms']:7.2f} ms")
    for path, by_first in counted.items():
        print(f"{path:13} statements: first:10 → {len(by_first[10])}, first:100 → "
              f"{len(by_first[100])}")  # fmt: skip


if __name__ == "__main__":
    main()
