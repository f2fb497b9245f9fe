"""Sign-in, sign-out and the gate in front of every other admin page.

`AdminGate` lets through only the public paths (sign-in, static files, CSP reports);
everything else needs a live session cookie, and a state-changing request also needs the
session's CSRF token in the `X-CSRF-Token` header (htmx sends it from `hx-headers` on the
body) or, for a URL-encoded form, in a `csrf_token` field. The sign-in form, which has no
session yet, is protected by a double-submit token (a cookie and a hidden field).
"""

from __future__ import annotations

import logging
import secrets
import threading
from urllib.parse import parse_qs, quote

import anyio
from argon2 import PasswordHasher
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin.config import AdminConfig
from admin.web import PREFIX, Viewer, config, db, form, render, safe_next, view
from domain.access import load_principal
from domain.errors import DomainError
from domain.models import User
from domain.passwords import verify_password
from domain.signin import (
    ABSOLUTE,
    current_session,
    end_session,
    locked_error,
    lockout,
    record_attempt,
    start_session,
    user_for_sign_in,
)

log = logging.getLogger("retailgis.admin")

SESSION_COOKIE = "rgis_session"
PRESESSION_COOKIE = "rgis_signin"
PUBLIC = ("/signin", "/static/", "/csp-report")
MAX_FORM_BYTES = 1 << 20
CSP_REPORT_BYTES = 4000
# Verified when the username is unknown, so both cases take the same time.
_DUMMY_HASH = PasswordHasher().hash(secrets.token_urlsafe(16))


def _sub_path(scope: Scope) -> str:
    path: str = scope["path"]
    return path[len(PREFIX) :] if path.startswith(PREFIX) else path


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _refuse(status: int, message: str) -> HTMLResponse:
    body = f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><p class="error">{message}</p>'
    return HTMLResponse(body, status_code=status)


class AdminGate:
    """Session and CSRF checks in front of the admin's routes."""

    def __init__(self, app: ASGIApp, cfg: AdminConfig) -> None:
        self.app = app
        self.cfg = cfg

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _sub_path(scope).startswith(PUBLIC):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        found = await anyio.to_thread.run_sync(self._viewer, cookie) if cookie else None
        if found is None:
            await self._to_sign_in(request)(scope, receive, send)
            return
        scope.setdefault("state", {})["viewer"] = found
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            token = request.headers.get("x-csrf-token")
            ctype = request.headers.get("content-type", "")
            if token is None and ctype.startswith("application/x-www-form-urlencoded"):
                body = await _read_body(receive)
                if body is None:
                    await _refuse(413, "请求过大")(scope, receive, send)
                    return
                token = (parse_qs(body.decode("latin-1")).get("csrf_token") or [None])[0]
                receive = _replay(body, receive)
            if token is None or not secrets.compare_digest(token, found.csrf_token):
                log.warning(
                    "admin: CSRF token %s on %s %s (user %s)",
                    "missing" if token is None else "wrong", request.method,
                    request.url.path, found.principal.username,
                )  # fmt: skip
                await _refuse(403, "安全校验失败（CSRF），请刷新页面后重试")(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _viewer(self, cookie: str) -> Viewer | None:
        with self.cfg.sessions.begin() as session:
            info = current_session(session, cookie, now=self.cfg.clock())
            if info is None:
                return None
            try:
                principal = load_principal(session, info.user_id)
            except DomainError:
                return None
            name = session.get(User, info.user_id)
            display = name.display_name if name is not None else principal.username
        return Viewer(principal, display, info.session_id, info.csrf_token)

    def _to_sign_in(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        url = f"{PREFIX}/signin?next={quote(target)}"
        if request.headers.get("hx-request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": url})
        if request.method != "GET":
            return _refuse(401, "登录已失效，请重新登录")
        return RedirectResponse(url, status_code=303)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, then the client's own messages (its disconnect comes when it
    really goes: a streamed response is not cut short)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# -- the sign-in page --------------------------------------------------------------------

_hashing: dict[int, threading.BoundedSemaphore] = {}
_hashing_lock = threading.Lock()


def _hash_slots(cfg: AdminConfig) -> threading.BoundedSemaphore:
    with _hashing_lock:
        return _hashing.setdefault(id(cfg), threading.BoundedSemaphore(cfg.hash_concurrency))


def _set_cookie(
    request: Request, response: Response, name: str, value: str, age: int, path: str = PREFIX
) -> None:
    response.set_cookie(
        name, value, max_age=age, path=path, httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )  # fmt: skip


def _sign_in_page(
    request: Request, *, error: str = "", username: str = "", status: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "signin.html",
        {"error": error, "username": username, "token": token,
         "next": safe_next(request.query_params.get("next") or form(request).get("next"))},  # type: ignore[arg-type]
        status=status,
    )  # fmt: skip
    _set_cookie(request, response, PRESESSION_COOKIE, token, 3600)
    return response


@view
def sign_in(request: Request) -> Response:
    if request.method == "GET":
        return _sign_in_page(request)
    cfg = config(request)
    data = form(request)
    username = str(data.get("username") or "").strip()[:64]
    password = str(data.get("password") or "")
    token = str(data.get("csrf_token") or "")
    expected = request.cookies.get(PRESESSION_COOKIE, "")
    if not expected or not secrets.compare_digest(token, expected):
        log.warning("admin: sign-in refused, CSRF token missing or wrong")
        return _sign_in_page(
            request, error="页面已过期，请重新输入后登录", username=username, status=403
        )
    if not username or not password:
        return _sign_in_page(request, error="请输入用户名和密码", username=username, status=400)
    ip = _client_ip(request)
    now = cfg.clock()
    with db(request) as session:
        lock = lockout(session, username=username, ip=ip, now=now)
        user = None if lock else user_for_sign_in(session, username)
        user_id, stored = (user.id, user.password_hash) if user else (None, None)
    if lock is not None:
        log.warning("admin: sign-in refused, %s locked (%s)", lock.reason, username)
        return _sign_in_page(
            request, error=locked_error(lock, now).message, username=username, status=429
        )
    with _hash_slots(cfg):
        ok = verify_password(stored or _DUMMY_HASH, password) and stored is not None
    with db(request) as session:
        record_attempt(session, username=username, ip=ip, succeeded=ok, now=now)
        if not ok or user_id is None:
            log.warning("admin: sign-in failed for %s from %s", username, ip)
            error = "用户名或密码错误"
            return _sign_in_page(request, error=error, username=username, status=400)
        info = start_session(
            session, user_id=user_id, ip=ip, user_agent=request.headers.get("user-agent"),
            now=now, replaces=request.cookies.get(SESSION_COOKIE),
        )  # fmt: skip
    log.info("admin: %s signed in from %s", username, ip)
    response = RedirectResponse(safe_next(str(data.get("next") or "")), status_code=303)
    # Path "/": the admin's pages may also call /graphql with the session (and the CSRF header).
    age = int(ABSOLUTE.total_seconds())
    _set_cookie(request, response, SESSION_COOKIE, info.session_id, age, path="/")
    response.delete_cookie(PRESESSION_COOKIE, path=PREFIX)
    return response


@view
def sign_out(request: Request) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    with db(request) as session:
        end_session(session, cookie, now=config(request).clock())
    response = Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/signin"})
    if request.headers.get("hx-request") != "true":
        response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def csp_report(request: Request) -> Response:
    """A browser's CSP violation report (no session needed): logged, at most 4 kB read."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) >= CSP_REPORT_BYTES:
            break
    text = body[:CSP_REPORT_BYTES].decode("utf-8", "replace")
    log.warning("admin: CSP violation reported: %s", text)
    return Response(status_code=204)
