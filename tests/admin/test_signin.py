"""Sign-in, sessions, lockout, CSRF and the security headers of the admin."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from starlette.testclient import TestClient

from domain.models import AdminSession, SignInAttempt
from domain.signin import LOCK_FAILURES
from tests.admin.conftest import Demo, SignIn, signin_token


def _attempts(demo: Demo, username: str) -> int:
    return demo.scalar(
        select(func.count()).select_from(SignInAttempt).where(SignInAttempt.username == username)
    )


def _post_sign_in(client: TestClient, username: str, password: str) -> object:
    page = client.get("/admin/signin")
    return client.post(
        "/admin/signin",
        data={"username": username, "password": password, "csrf_token": signin_token(page.text)},
        follow_redirects=False,
    )


def test_pages_need_a_session(browser_client: TestClient) -> None:
    # when a page is asked for without signing in
    res = browser_client.get("/admin/customers?x=1", follow_redirects=False)
    # then the browser is sent to the sign-in page, which will come back to it
    assert res.status_code == 303
    assert res.headers["location"] == "/admin/signin?next=/admin/customers%3Fx%3D1"
    # and an htmx request is told where to go instead
    res = browser_client.get("/admin/", headers={"HX-Request": "true"}, follow_redirects=False)
    assert res.status_code == 401 and res.headers["HX-Redirect"].startswith("/admin/signin")
    # and the root of the site leads to the admin
    assert browser_client.get("/", follow_redirects=False).headers["location"] == "/admin/"


def test_sign_in_sets_a_new_session_cookie_with_its_flags(
    browser_client: TestClient, admin_demo: Demo
) -> None:
    username = admin_demo.user("customer_manager")
    before = admin_demo.scalar(select(func.count()).select_from(AdminSession))
    # given a cookie planted before sign-in (session fixation)
    browser_client.cookies.set("rgis_session", "planted-by-attacker", path="/")
    # when the user signs in
    res = _post_sign_in(browser_client, username, admin_demo.password)
    # then a new random session id is set, HttpOnly and SameSite (path / so that the
    # admin's pages may call /graphql with it)
    assert res.status_code == 303 and res.headers["location"] == "/admin/"
    cookie = next(h for h in res.headers.get_list("set-cookie") if h.startswith("rgis_session="))
    value = cookie.split(";")[0].split("=", 1)[1]
    assert value != "planted-by-attacker" and len(value) >= 40
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/;" in cookie + ";"
    assert "Secure" not in cookie  # served over http here; https adds it
    assert admin_demo.scalar(select(func.count()).select_from(AdminSession)) == before + 1
    # and the home page greets the user with the role's Chinese name
    home = browser_client.get("/admin/")
    assert home.status_code == 200 and "客户经理" in home.text and "待我处理" in home.text


def test_secure_flag_over_https(admin_app: object, admin_demo: Demo) -> None:
    with TestClient(admin_app, base_url="https://testserver") as client:  # type: ignore[arg-type]
        res = _post_sign_in(client, admin_demo.user("market_dept"), admin_demo.password)
        cookie = [h for h in res.headers.get_list("set-cookie") if h.startswith("rgis_session=")]  # type: ignore[attr-defined]
        assert "Secure" in cookie[0]


def test_wrong_password_is_refused_and_recorded(
    browser_client: TestClient, admin_demo: Demo
) -> None:
    username = admin_demo.user("market_manager")
    attempts = _attempts(admin_demo, username)
    sessions = admin_demo.scalar(select(func.count()).select_from(AdminSession))
    res = _post_sign_in(browser_client, username, "wrong-password")
    assert res.status_code == 400 and "用户名或密码错误" in res.text  # type: ignore[attr-defined]
    assert "rgis_session=" not in "".join(res.headers.get_list("set-cookie"))  # type: ignore[attr-defined]
    assert _attempts(admin_demo, username) == attempts + 1
    assert admin_demo.scalar(select(func.count()).select_from(AdminSession)) == sessions
    # an unknown user gets the very same answer
    res = _post_sign_in(browser_client, "nobody-here", "whatever-password")
    assert res.status_code == 400 and "用户名或密码错误" in res.text  # type: ignore[attr-defined]


def test_lockout_after_repeated_failures(browser_client: TestClient, admin_demo: Demo) -> None:
    username = admin_demo.user("customer_manager", 3)
    for _ in range(LOCK_FAILURES):
        assert _post_sign_in(browser_client, username, "not-the-password").status_code == 400  # type: ignore[attr-defined]
    sessions = admin_demo.scalar(select(func.count()).select_from(AdminSession))
    # when the right password comes after too many failures
    res = _post_sign_in(browser_client, username, admin_demo.password)
    # then the account is locked for a while, and no session is created
    assert res.status_code == 429 and "已暂时锁定" in res.text  # type: ignore[attr-defined]
    assert admin_demo.scalar(select(func.count()).select_from(AdminSession)) == sessions


def test_sign_in_form_needs_its_token(browser_client: TestClient, admin_demo: Demo) -> None:
    browser_client.get("/admin/signin")
    res = browser_client.post(
        "/admin/signin",
        data={"username": admin_demo.user("market_dept"), "password": admin_demo.password,
              "csrf_token": "forged"},
        follow_redirects=False,
    )  # fmt: skip
    assert res.status_code == 403 and "页面已过期" in res.text


def test_state_changes_need_the_csrf_token(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("customer_manager"))
    # without a token, or with a wrong one: refused before the view runs
    res = browser_client.post("/admin/notifications/read", data={"notification": "1"})
    assert res.status_code == 403 and "CSRF" in res.text
    res = browser_client.post(
        "/admin/notifications/read", headers={"X-CSRF-Token": "x" * 43}, data={}
    )
    assert res.status_code == 403
    # with the session's token (as htmx sends it): accepted
    res = browser_client.post(
        "/admin/notifications/read", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}, data={}
    )
    assert res.status_code == 204 and res.headers["HX-Redirect"] == "/admin/"
    # and as a field of a plain form
    res = browser_client.post(
        "/admin/notifications/read", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert res.status_code == 303


def test_sign_out_ends_the_session(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    cookie = browser_client.cookies.get("rgis_session")
    res = browser_client.post(
        "/admin/signout", headers={"X-CSRF-Token": csrf}, follow_redirects=False
    )
    assert res.status_code == 303
    # the old cookie no longer opens anything
    browser_client.cookies.set("rgis_session", cookie or "", path="/")
    assert browser_client.get("/admin/", follow_redirects=False).status_code == 303


def test_idle_sessions_expire(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    sign_in(admin_demo.user("sales_dept"))
    with admin_demo.engine.begin() as conn:
        conn.execute(
            AdminSession.__table__.update().values(
                last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            )
        )
    assert browser_client.get("/admin/", follow_redirects=False).status_code == 303


def test_security_headers(browser_client: TestClient) -> None:
    res = browser_client.get("/admin/signin")
    csp = res.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert res.headers["x-frame-options"] == "DENY"
    assert res.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in res.text and " style=" not in res.text


ME = {"query": "{ me { user { username } role } }"}


def test_graphql_accepts_the_session_with_its_csrf_header(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    username = admin_demo.user("county_dept")
    csrf = sign_in(username)
    # with the session cookie and the page's CSRF token, the API answers as that user
    res = browser_client.post("/graphql", json=ME, headers={"X-CSRF-Token": csrf})
    assert res.status_code == 200
    assert res.json()["data"]["me"] == {"user": {"username": username}, "role": "county_dept"}
    # the cookie alone (what another site could make a browser send) is refused
    res = browser_client.post("/graphql", json=ME)
    assert res.status_code == 403 and res.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # and an ended session is refused
    browser_client.cookies.set("rgis_session", "ended-or-unknown", path="/")
    res = browser_client.post("/graphql", json=ME, headers={"X-CSRF-Token": csrf})
    assert res.status_code == 401
