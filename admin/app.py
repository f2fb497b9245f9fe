"""The admin application, mounted by `api.app` at /admin: the gate (sessions, CSRF), the
security headers, static files and the screens of each area (`admin.views`)."""

from __future__ import annotations

import logging
import uuid

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from admin.auth import AdminGate, csp_report, sign_in, sign_out
from admin.config import AdminConfig
from admin.security import SecurityHeaders
from admin.views import AREAS
from admin.web import STATIC_DIR, render

log = logging.getLogger("retailgis.admin")


async def _unexpected(request: Request, exc: Exception) -> Response:
    """No stack trace, SQL or value reaches the browser; the log has the reference."""
    ref = uuid.uuid4().hex[:12]
    log.error("admin: unexpected %s on %s %s (ref %s)", type(exc).__name__, request.method,
              request.url.path, ref, exc_info=exc)  # fmt: skip
    return render(request, "error.html", {"ref": ref}, status=500)


def routes() -> list[BaseRoute]:
    found: list[BaseRoute] = [
        Route("/signin", sign_in, methods=["GET", "POST"]),
        Route("/signout", sign_out, methods=["POST"]),
        Route("/csp-report", csp_report, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    for area in AREAS:
        found.extend(area.ROUTES)
    return found


def create_admin(cfg: AdminConfig) -> Starlette:
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(SecurityHeaders, basemap=cfg.basemap),
            Middleware(AdminGate, cfg=cfg),
        ],
        exception_handlers={Exception: _unexpected},
    )
    app.state.admin = cfg
    return app
