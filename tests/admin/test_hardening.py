"""Web hardening of the admin (issue 9, part 7): every state-changing route, found by walking
the served app, refuses a missing or wrong CSRF token and changes nothing; GET routes change
nothing either; session rotation, revocation, the absolute timeout, the pre-session cookie,
and the lockouts (per username and per address) with their log lines.

What tests/admin/test_signin.py already asserts is not repeated here (the session cookie's
flags, a planted cookie replaced, the username lockout's 429, CSRF on one route, the idle
timeout). The production GraphQL settings (introspection refused, no "Did you mean"
suggestions, no GraphiQL on GET /graphql) are asserted by tests/schema/test_hardening.py
(test_production_refuses_introspection_and_graphiql, test_production_gives_no_suggestions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, text
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

import admin.app
from admin.app import create_admin
from admin.config import AdminConfig
from admin.web import UNSAFE_METHODS
from api.db import make_sessionmaker
from domain.models import AdminSession, Customer, RoutePlan, SignInAttempt, Ticket
from domain.signin import ABSOLUTE, IDLE, IP_FAILURES, LOCK_FAILURES
from domain.tickets.engine import default_calendar
from tests.admin.conftest import VAULT, Demo, SignIn, csrf_of, signin_token
from tests.admin.routes_support import admin_routes, fill, matches, walk

# The state-changing routes there are today: the walk must find at least these.
KNOWN_UNSAFE = {
    "/admin/signin", "/admin/signout", "/admin/csp-report", "/admin/notifications/read",
    "/admin/customers/{code}", "/admin/customers/{code}/reveal", "/admin/queue/approve",
    "/admin/queue/{ticket_id:int}/approve", "/admin/queue/{ticket_id:int}/reject",
    "/admin/queue/{ticket_id:int}/return", "/admin/planner/select", "/admin/planner/move",
    "/admin/planner/plans", "/admin/planner/visits", "/admin/planner/plans/{plan_id:int}/cancel",
    "/admin/planner/plans/{plan_id:int}/submit", "/admin/files/upload", "/admin/files/import",
    "/admin/files/export", "/admin/files/jobs/{job_id:int}/cancel", "/admin/tokens",
    "/admin/tokens/{token_id:int}/revoke", "/admin/calendar",
}  # fmt: skip
# Public by design: the browser posts CSP reports without a session; the view only logs.
NO_SESSION_TOKEN = {"/admin/csp-report"}
# The sign-in form has no session yet: a double-submit token of its own (tested below).
SIGN_IN = "/admin/signin"
# Every table a state-changing route could write, hashed whole; sessions by count (the gate
# touches last_seen_at on a request).
TABLES = (
    "customers", "tickets", "ticket_steps", "ticket_changes", "ledger_entries",
    "personal_data_reveals", "notifications", "route_plans", "route_plan_items", "jobs",
    "imports", "export_logs", "delivery_routes", "sign_in_attempts", "idempotency_keys",
    "api_tokens", "calendar_years",
)  # fmt: skip
WRONG = "x" * 43
CSV = "客户编码,客户名称\n990000000001,测试\n".encode()


# -- the routes and what they could change ------------------------------------------------


def real_values(demo: Demo) -> dict[str, str]:
    code = demo.scalar(select(Customer.customer_code).order_by(Customer.id))
    ticket = demo.scalar(select(Ticket.id).order_by(Ticket.id))
    plan = demo.scalar(select(RoutePlan.id).order_by(RoutePlan.id))
    found = {"code": code, "ticket_id": ticket, "plan_id": plan, "z": 7, "x": 102, "y": 52}
    return {k: str(v) for k, v in found.items() if v is not None}


HASH = "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"


def snapshot(engine: Engine, uploads: Path) -> dict[str, Any]:
    with engine.connect() as c:
        out: dict[str, Any] = {t: tuple(c.execute(text(HASH.format(t))).one()) for t in TABLES}
        out["admin_sessions"] = tuple(
            c.execute(text("SELECT count(*), count(revoked_at) FROM admin_sessions")).one()
        )
    out["uploads"] = sorted(p.name for p in uploads.rglob("*")) if uploads.exists() else []
    return out


def upload_dir(app: Starlette) -> Path:
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/admin")
    cfg: AdminConfig = mount.app.state.admin  # type: ignore[attr-defined]
    return cfg.upload_dir


def test_the_walk_finds_every_route_of_admin_app_routes(admin_app: Starlette) -> None:
    served = {p for p, _ in admin_routes(admin_app)}
    declared = {"/admin" + p for p, _ in walk(admin.app.routes())}
    assert served == declared
    unsafe = {p for p, r in admin_routes(admin_app) if (r.methods or set()) & UNSAFE_METHODS}
    assert unsafe >= KNOWN_UNSAFE, KNOWN_UNSAFE - unsafe


def _attempts(ids: dict[str, str], other: str) -> list[tuple[str, dict[str, Any]]]:
    """Requests a forger could make with the session cookie alone (or a token of another
    session): urlencoded, htmx-style header, multipart with a file, JSON."""
    form = {"comment": "x", "reason": "x", "ticket": ids.get("ticket_id", "1"), "mode": "day",
            "depot": "1", "weekday": "2", "target_route": "1", "customer": "1",
            "notification": "1", "format": "csv", "manager": "1", "batches": "5"}  # fmt: skip
    upload = {"file": ("customers.csv", CSV, "text/csv")}
    hx = {"HX-Request": "true"}
    return [
        ("no token", {"data": form}),
        ("wrong field", {"data": {**form, "csrf_token": WRONG}}),
        ("empty field", {"data": {**form, "csrf_token": ""}}),
        ("wrong header", {"data": form, "headers": {**hx, "X-CSRF-Token": WRONG}}),
        ("empty header", {"data": form, "headers": {**hx, "X-CSRF-Token": ""}}),
        ("another session's header", {"data": form, "headers": {**hx, "X-CSRF-Token": other}}),
        ("another session's field", {"data": {**form, "csrf_token": other}}),
        ("multipart, no token", {"data": form, "files": upload}),
        ("multipart, wrong field", {"data": {**form, "csrf_token": WRONG}, "files": upload}),
        ("multipart, wrong header",
         {"data": form, "files": upload, "headers": {"X-CSRF-Token": WRONG}}),
        ("json, no token", {"json": form}),
    ]  # fmt: skip


def test_every_state_changing_route_refuses_a_missing_or_wrong_csrf_token(
    admin_app: Starlette, browser_client: TestClient, sign_in: SignIn, admin_demo: Demo,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # given a signed-in market_dept user (city-wide), and another live session's token
    with TestClient(admin_app) as other_client:
        other = _sign_in_client(other_client, admin_demo.user("delivery_dept"), admin_demo)
    mine = sign_in(admin_demo.user("market_dept"))
    assert other != mine
    ids = real_values(admin_demo)
    uploads = upload_dir(admin_app)
    targets = [
        (path, r) for path, r in admin_routes(admin_app)
        if (r.methods or set()) & UNSAFE_METHODS and path not in NO_SESSION_TOKEN | {SIGN_IN}
    ]  # fmt: skip
    assert len(targets) >= len(KNOWN_UNSAFE - NO_SESSION_TOKEN - {SIGN_IN})
    before = snapshot(admin_demo.engine, uploads)
    refused = 0
    with caplog.at_level(logging.WARNING, logger="retailgis.admin"):
        for path, route in targets:
            url = fill(path, ids)
            for method in sorted((route.methods or set()) & UNSAFE_METHODS):
                assert matches(route, url, method), (method, url)
                for label, kwargs in _attempts(ids, other):
                    # when the request carries no token or a wrong one
                    res = browser_client.request(method, url, follow_redirects=False, **kwargs)
                    # then the gate refuses it before the view runs
                    assert res.status_code == 403, (method, url, label, res.status_code)
                    assert "安全校验失败（CSRF）" in res.text, (method, url, label)
                    refused += 1
    # and nothing changed, and each refusal was logged
    assert snapshot(admin_demo.engine, uploads) == before
    logged = [r for r in caplog.records if r.getMessage().startswith("admin: CSRF token")]
    assert len(logged) == refused
    # while the same session with its own token is let through (a harmless request)
    res = browser_client.post("/admin/queue/approve", headers={"X-CSRF-Token": mine})
    assert res.status_code == 200 and "请先勾选要批量通过的工单" in res.text


def test_csp_reports_need_no_session_and_store_nothing(
    admin_app: Starlette, browser_client: TestClient, admin_demo: Demo
) -> None:
    uploads = upload_dir(admin_app)
    before = snapshot(admin_demo.engine, uploads)
    res = browser_client.post("/admin/csp-report", json={"csp-report": {"blocked-uri": "inline"}})
    assert res.status_code == 204 and res.content == b""
    assert snapshot(admin_demo.engine, uploads) == before


def test_the_sign_in_form_refuses_a_missing_or_forged_token_and_records_nothing(
    admin_app: Starlette, browser_client: TestClient, admin_demo: Demo
) -> None:
    uploads = upload_dir(admin_app)
    before = snapshot(admin_demo.engine, uploads)
    creds = {"username": admin_demo.user("licensing"), "password": admin_demo.password}
    # no pre-session cookie and no token, then a token that is not the cookie's
    assert browser_client.post(SIGN_IN, data=creds).status_code == 403
    browser_client.get(SIGN_IN)
    for token in ("", WRONG):
        res = browser_client.post(SIGN_IN, data={**creds, "csrf_token": token})
        assert res.status_code == 403 and "页面已过期" in res.text
    assert "rgis_session" not in browser_client.cookies
    assert snapshot(admin_demo.engine, uploads) == before


def test_get_routes_change_nothing(
    admin_app: Starlette, browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    # CSRF protection covers unsafe methods only, so no GET may change anything
    sign_in(admin_demo.user("market_dept"))
    ids = real_values(admin_demo)
    uploads = upload_dir(admin_app)
    before = snapshot(admin_demo.engine, uploads)
    gets = [(p, r) for p, r in admin_routes(admin_app) if "GET" in (r.methods or set())]
    assert len(gets) >= 12
    for path, _ in gets:
        res = browser_client.get(fill(path, ids), follow_redirects=False)
        assert res.status_code < 500, (path, res.status_code)
    assert snapshot(admin_demo.engine, uploads) == before


# -- sessions ---------------------------------------------------------------------------------


def _sign_in_client(client: TestClient, username: str, demo: Demo) -> str:
    """Sign ``client`` in; the session's CSRF token."""
    res = _post_sign_in(client, username, demo.password)
    assert res.status_code == 303, res.text
    return csrf_of(client.get("/admin/").text)


def _post_sign_in(client: TestClient, username: str, password: str) -> Any:
    page = client.get(SIGN_IN)
    return client.post(
        SIGN_IN, data={"username": username, "password": password,
                       "csrf_token": signin_token(page.text)}, follow_redirects=False,
    )  # fmt: skip


def _row(demo: Demo, cookie: str) -> AdminSession:
    digest = hashlib.sha256(cookie.encode()).hexdigest()
    with demo.engine.connect() as c:
        row = c.execute(select(AdminSession).where(AdminSession.id_hash == digest)).one()
    return row  # type: ignore[return-value]


def test_sign_in_over_a_live_session_revokes_it_and_gives_a_new_id(
    browser_client: TestClient, admin_demo: Demo
) -> None:
    # given a signed-in browser
    _sign_in_client(browser_client, admin_demo.user("licensing"), admin_demo)
    old = browser_client.cookies["rgis_session"]
    assert _row(admin_demo, old).revoked_at is None
    # when someone signs in again in the same browser (its cookie sent along)
    res = _post_sign_in(browser_client, admin_demo.user("licensing", 1), admin_demo.password)
    assert res.status_code == 303
    new = browser_client.cookies["rgis_session"]
    # then a new id, the old session's row revoked and its cookie dead
    assert new != old and _row(admin_demo, new).revoked_at is None
    assert _row(admin_demo, old).revoked_at is not None
    browser_client.cookies.set("rgis_session", old, path="/")
    assert browser_client.get("/admin/", follow_redirects=False).status_code == 303


def test_sign_out_revokes_the_row_and_the_cookie_opens_nothing_even_on_graphql(
    browser_client: TestClient, admin_demo: Demo
) -> None:
    csrf = _sign_in_client(browser_client, admin_demo.user("sales_dept", 1), admin_demo)
    cookie = browser_client.cookies["rgis_session"]
    me = {"query": "{ me { role } }"}
    ok = browser_client.post("/graphql", json=me, headers={"X-CSRF-Token": csrf})
    assert ok.json() == {"data": {"me": {"role": "sales_dept"}}}
    # when signing out from the page (htmx)
    res = browser_client.post(
        "/admin/signout", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    # then the browser is sent to sign in, the cookie deleted on the path it was set on
    assert res.status_code == 204 and res.headers["HX-Redirect"] == "/admin/signin"
    deleted = next(h for h in res.headers.get_list("set-cookie") if h.startswith("rgis_session="))
    assert "Max-Age=0" in deleted and "Path=/;" in deleted + ";"
    assert _row(admin_demo, cookie).revoked_at is not None
    # and the old cookie with its token opens neither the API nor a state change
    browser_client.cookies.set("rgis_session", cookie, path="/")
    res = browser_client.post("/graphql", json=me, headers={"X-CSRF-Token": csrf})
    assert res.status_code == 401 and res.json().get("data") is None
    res = browser_client.post("/admin/notifications/read", headers={"X-CSRF-Token": csrf})
    assert res.status_code == 401


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def test_a_session_ends_after_12_hours_however_active(admin_demo: Demo) -> None:
    clock = Clock(dt.datetime.now(dt.UTC))
    start = clock.at
    cfg = AdminConfig(
        sessions=make_sessionmaker(admin_demo.engine), vault=VAULT,
        calendar=default_calendar(), clock=clock,
    )  # fmt: skip
    app = Starlette(routes=[Mount("/admin", app=create_admin(cfg))])
    with TestClient(app) as client:
        _sign_in_client(client, admin_demo.user("it_admin", 1), admin_demo)
        # given a user active every 25 minutes (never idle for IDLE)
        step = dt.timedelta(minutes=25)
        assert step < IDLE
        while clock.at + step < start + ABSOLUTE:
            clock.at += step
            assert client.get("/admin/", follow_redirects=False).status_code == 200
        # a minute before the end it still works; a minute after, it is over
        clock.at = start + ABSOLUTE - dt.timedelta(minutes=1)
        assert client.get("/admin/", follow_redirects=False).status_code == 200
        clock.at = start + ABSOLUTE + dt.timedelta(minutes=1)
        res = client.get("/admin/", follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"].startswith("/admin/signin")


def test_the_pre_session_cookie_and_the_session_cookies_lifetime(
    admin_app: Starlette, admin_demo: Demo
) -> None:
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(admin_app, base_url=base) as client:
            page = client.get(SIGN_IN)
            cookies = page.headers.get_list("set-cookie")
            pre = next(h for h in cookies if h.startswith("rgis_signin="))
            assert "HttpOnly" in pre and "SameSite=lax" in pre and "Path=/admin;" in pre + ";"
            assert "Max-Age=3600" in pre and ("Secure" in pre) is secure
            res = _post_sign_in(client, admin_demo.user("market_manager", -1), admin_demo.password)
            cookies = res.headers.get_list("set-cookie")
            session = next(h for h in cookies if h.startswith("rgis_session="))
            assert f"Max-Age={int(ABSOLUTE.total_seconds())}" in session
            assert ("Secure" in session) is secure
            # the pre-session cookie is dropped once signed in
            gone = next(h for h in cookies if h.startswith("rgis_signin="))
            assert "Max-Age=0" in gone and "Path=/admin;" in gone + ";"


# -- lockouts -----------------------------------------------------------------------------------


def test_a_username_lockout_is_logged_and_locks_only_that_username(
    browser_client: TestClient, admin_demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    username = admin_demo.user("market_manager", -3)  # a user no other test signs in as
    try:
        with caplog.at_level(logging.INFO, logger="retailgis.admin"):
            for _ in range(LOCK_FAILURES):
                assert _post_sign_in(browser_client, username, "nope-nope").status_code == 400
            assert _post_sign_in(browser_client, username, admin_demo.password).status_code == 429
        messages = [r.getMessage() for r in caplog.records if r.name == "retailgis.admin"]
        failed = f"admin: sign-in failed for {username} from testclient"
        assert messages.count(failed) == LOCK_FAILURES
        assert f"admin: sign-in refused, user locked ({username})" in messages
        assert not any(admin_demo.password in m for m in messages)
        # another user from the same address still signs in
        other = admin_demo.user("market_manager", -4)
        assert _post_sign_in(browser_client, other, admin_demo.password).status_code == 303
    finally:  # the demo city is shared: leave the account usable
        with admin_demo.engine.begin() as c:
            c.execute(delete(SignInAttempt).where(SignInAttempt.username == username))


def test_an_address_is_throttled_after_many_failures_on_any_usernames(
    admin_app: Starlette, admin_demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    ip = "203.0.113.7"  # TEST-NET-3: only this test signs in from it
    username = admin_demo.user("market_manager", -2)
    now = dt.datetime.now(dt.UTC)
    try:
        # given failures from one address on other usernames, two short of the limit
        with admin_demo.engine.begin() as c:
            c.execute(insert(SignInAttempt), [
                {"username": f"guess-{i}", "ip": ip, "succeeded": False, "at": now}
                for i in range(IP_FAILURES - 2)
            ])  # fmt: skip
        with TestClient(admin_app, client=(ip, 40000)) as client, caplog.at_level(logging.INFO):
            # one failure more: still below the limit, a right password signs in
            assert _post_sign_in(client, "guess-x", "nope-nope").status_code == 400
            assert _post_sign_in(client, username, admin_demo.password).status_code == 303
            # when the address reaches IP_FAILURES failures
            assert _post_sign_in(client, "guess-y", "nope-nope").status_code == 400
            res = _post_sign_in(client, username, admin_demo.password)
            # then even a right password from it is refused, and that is logged
            assert res.status_code == 429 and "该地址登录失败次数过多" in res.text
        assert f"admin: sign-in refused, ip locked ({username})" in caplog.messages
        # while other addresses are not affected
        with TestClient(admin_app) as elsewhere:
            assert _post_sign_in(elsewhere, username, admin_demo.password).status_code == 303
    finally:
        with admin_demo.engine.begin() as c:
            c.execute(delete(SignInAttempt).where(SignInAttempt.ip == ip))
