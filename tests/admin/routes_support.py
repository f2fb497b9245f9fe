"""The admin's routes as served (walked from the app, so a route added later is covered by
the hardening and CSP tests without listing it) and their paths with parameters filled."""

from __future__ import annotations

import re
from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Mount, Route

PARAM = re.compile(r"{(\w+)(?::(\w+))?}")


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    for r in routes:
        if isinstance(r, Route):
            yield prefix + r.path, r
        elif isinstance(r, Mount):
            yield from walk(r.routes, prefix + r.path)  # StaticFiles has no routes


def admin_routes(app: Starlette) -> list[tuple[str, Route]]:
    """(full path template, route) of every route under /admin."""
    return [(p, r) for p, r in walk(app.routes) if p.startswith("/admin/")]


def fill(path: str, values: dict[str, str]) -> str:
    """The path with each parameter given a real value, else a dummy of its type."""

    def one(m: re.Match[str]) -> str:
        return values.get(m.group(1)) or ("1" if m.group(2) == "int" else "x")

    return PARAM.sub(one, path)


def matches(route: Route, url: str, method: str) -> bool:
    """Whether ``url`` (a full /admin/... path) is served by ``route`` for ``method``."""
    scope = {"type": "http", "path": url.split("?")[0].removeprefix("/admin"), "method": method}
    return route.matches(scope)[0] == Match.FULL
