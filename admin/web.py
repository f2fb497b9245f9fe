"""What every admin view uses: templates (whole pages or one named block for htmx), the
signed-in viewer, a unit of work, form errors, redirects."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from admin.config import AdminConfig
from domain.access import Principal
from domain.access.rowsecurity import enter_scope
from domain.errors import DomainError, ValidationFailed
from domain.models.org import ROLE_LABELS_ZH

PACKAGE = Path(__file__).parent
TEMPLATES_DIR = PACKAGE / "templates"
STATIC_DIR = PACKAGE / "static"
PREFIX = "/admin"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a request."""

    principal: Principal
    display_name: str
    session_id: str
    csrf_token: str

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def role_zh(self) -> str:
        return ROLE_LABELS_ZH.get(self.principal.role, self.principal.role)


def config(request: Request) -> AdminConfig:
    cfg: AdminConfig = request.app.state.admin
    return cfg


def viewer(request: Request) -> Viewer:
    v: Viewer = request.state.viewer
    return v


def principal(request: Request) -> Principal:
    return viewer(request).principal


def now(request: Request) -> dt.datetime:
    return config(request).clock()


@contextmanager
def db(request: Request) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back otherwise; run
    as the signed-in user's scope role (no user: sees no customer), so row-level security
    backs the scope filters (``domain.access.rowsecurity``)."""
    with config(request).sessions.begin() as session:
        found = getattr(request.state, "viewer", None)
        enter_scope(session, found.principal if found is not None else None)
        yield session


def form(request: Request) -> FormData:
    """The submitted form of a state-changing request (read by `view` before the thread)."""
    data: FormData = request.state.form
    return data


def view(fn: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
    """A synchronous view run in a worker thread (database and hashing stay off the event
    loop); the form of a POST is read first and available through `form(request)`."""

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        if request.method in UNSAFE_METHODS:
            request.state.form = await request.form(max_files=1, max_fields=5000)
        else:
            request.state.form = FormData()
        try:
            return await run_in_threadpool(fn, request)
        finally:
            await request.state.form.close()

    return endpoint


# -- templates -------------------------------------------------------------------------


@functools.cache
def _static_version(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(path: str) -> str:
    return f"{PREFIX}/static/{path}?v={_static_version(path)}"


def _local(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime(fmt)


def duration_zh(delta: dt.timedelta | None) -> str:
    """A working-time span for people: 2天3小时, 45分钟 (sign dropped)."""
    if delta is None:
        return ""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{mins}分钟" if mins else f"{hours}小时"
    return f"{mins}分钟"


def _tojson_attr(value: Any) -> Markup:
    """JSON for an HTML attribute (escaped by the template's autoescape when quoted)."""
    return Markup.escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static=static_url, prefix=PREFIX)
    env.filters.update(local=_local, duration=duration_zh, json_attr=_tojson_attr, urlq=quote)
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The whole page, or only ``block`` (an htmx partial) of the same template."""
    ctx: dict[str, Any] = {"request": request, "viewer": getattr(request.state, "viewer", None)}
    ctx["basemap"] = config(request).basemap
    ctx.update(context or {})
    t = environment().get_template(template)
    body = t.render(ctx) if block is None else "".join(t.blocks[block](t.new_context(ctx)))
    return HTMLResponse(body, status_code=status, headers=headers)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def redirect(request: Request, url: str) -> Response:
    """Go to ``url``: an htmx request is told through HX-Redirect, a plain one by 303."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def field_errors(error: DomainError) -> dict[str, list[str]]:
    """Messages by field ("" for errors not tied to one) to show beside the fields."""
    errors = error.errors if isinstance(error, ValidationFailed) else (error,)
    out: dict[str, list[str]] = {}
    for e in errors:
        out.setdefault(e.field or "", []).append(e.message)
    return out


def safe_next(target: str | None) -> str:
    """A post-sign-in destination inside the admin (never another site)."""
    target = target or ""
    if target.startswith(PREFIX + "/") and "\\" not in target and "//" not in target:
        return target
    return PREFIX + "/"
