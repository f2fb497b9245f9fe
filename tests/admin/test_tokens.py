"""API bearer tokens in the admin (/admin/tokens, issue 5): created with the secret shown
once and only a hash stored, listed by prefix, revoked (refused by /graphql from then on,
after the token cache's few seconds); a user manages only its own tokens, the information
department (it_admin) everyone's; bad input and refusals change nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.testclient import TestClient

from api.app import create_app
from api.principals import TOKEN_CACHE_SECONDS, PrincipalCache
from api.settings import Settings
from domain.models import ApiToken, OrgUnit, User
from domain.users import create_token, create_user
from tests.admin.conftest import VAULT, Demo, SignIn, csrf_of, signin_token
from tests.support import traversable_tmpdir

SECRET_RE = re.compile(r'<code id="token-secret">([^<]+)</code>')
ONCE = "仅显示一次，请立即复制保存"
ME = {"query": "{ me { role } }"}


class Clock:
    """A monotonic clock the test moves by hand (the API's token cache reads it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def api(admin_demo: Demo, clock: Clock) -> Iterator[TestClient]:
    """The API over the admin's demo city, its token cache on a clock the tests move."""
    settings = Settings(app_env="test", data_dir=traversable_tmpdir("rgis-admin-tokens-"))
    app = create_app(
        settings, admin_demo.engine, vault=VAULT, principals=PrincipalCache(clock=clock)
    )
    with TestClient(app) as c:
        yield c


def _me(api: TestClient, secret: str) -> Any:
    return api.post("/graphql", json=ME, headers={"Authorization": f"Bearer {secret}"})


def _post(client: TestClient, csrf: str, url: str, data: dict[str, str] | None = None) -> Any:
    """An htmx POST from the page (the CSRF token in the header, as htmx sends it)."""
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    return client.post(url, data=data or {}, headers=headers, follow_redirects=False)


def _tokens(demo: Demo, *where: Any) -> int:
    return int(demo.scalar(select(func.count()).select_from(ApiToken).where(*where)))


def _row(demo: Demo, prefix: str) -> ApiToken:
    with Session(demo.engine) as s:
        return s.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one()


def _user_id(demo: Demo, username: str) -> int:
    return int(demo.scalar(select(User.id).where(User.username == username)))


def _secret(html: str) -> str:
    found = SECRET_RE.search(html)
    assert found, "no secret on the page"
    return found.group(1)


def _direct_token(demo: Demo, username: str, name: str) -> tuple[str, int]:
    """A token made as the CLI makes it: (secret, id)."""
    with Session(demo.engine) as s, s.begin():
        secret = create_token(s, username=username, name=name, days=30)
    return secret, _row(demo, secret[:10]).id


def _other_client(admin_app: Starlette, demo: Demo, username: str) -> tuple[TestClient, str]:
    client = TestClient(admin_app, base_url="http://testserver")
    page = client.get("/admin/signin")
    res = client.post(
        "/admin/signin",
        data={"username": username, "password": demo.password,
              "csrf_token": signin_token(page.text), "next": "/admin/"},
        follow_redirects=False,
    )  # fmt: skip
    assert res.status_code == 303, res.text
    return client, csrf_of(client.get("/admin/").text)


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "retailgis.admin"]


def test_a_user_creates_a_token_sees_the_secret_once_and_it_opens_graphql(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, api: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # given a signed-in customer manager on the tokens page (own tokens, no user selector)
    username = admin_demo.user("customer_manager", 5)
    csrf = sign_in(username)
    page = browser_client.get("/admin/tokens")
    assert page.status_code == 200 and "我的令牌" in page.text
    assert 'name="user"' not in page.text and 'class="active">访问令牌</a>' in page.text
    before = _tokens(admin_demo)
    # when creating a token for 30 days
    with caplog.at_level(logging.INFO, logger="retailgis.admin"):
        res = _post(browser_client, csrf, "/admin/tokens", {"name": "巡店 App", "days": "30"})
    # then the answer shows the secret once, with the note, and is not cached
    assert res.status_code == 200 and res.headers["cache-control"] == "no-store"
    assert res.text.lstrip().startswith('<div id="tokens-main">')
    secret = _secret(res.text)
    assert secret.startswith("rgis_") and ONCE in res.text
    # and one row is stored: the prefix and a hash, never the secret
    assert _tokens(admin_demo) == before + 1
    row = _row(admin_demo, secret[:10])
    assert row.user_id == _user_id(admin_demo, username) and row.name == "巡店 App"
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest() != secret
    assert row.revoked_at is None and row.last_used_at is None
    assert abs(row.expires_at - row.created_at - dt.timedelta(days=30)) < dt.timedelta(seconds=5)
    # and the log names who, for whom and the prefix, never the secret
    created = f"admin: API token {secret[:10]} created for {username} by {username} (30 days)"
    assert created in _messages(caplog)
    assert not any(secret in m for m in caplog.messages)
    # and the secret opens the API as the user
    assert _me(api, secret).json() == {"data": {"me": {"role": "customer_manager"}}}
    # when the page is opened again
    again = browser_client.get("/admin/tokens")
    # then the token is listed by its prefix (status, last use), the secret never again
    assert secret not in again.text and ONCE not in again.text
    listed = re.search(
        rf'<tr id="token-{row.id}" class="token active">(.*?)</tr>', again.text, re.S
    )
    assert listed, "the new token is not listed"
    assert f"<code>{secret[:10]}…</code>" in listed.group(1) and "巡店 App" in listed.group(1)
    assert '<span class="ok">有效</span>' in listed.group(1)
    assert "从未使用" not in listed.group(1)  # the API call above recorded its use


def test_a_revoked_token_is_refused_by_graphql_and_a_second_revocation_changes_nothing(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, api: TestClient,
    clock: Clock, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # given a token of a market manager, used once (so the API's cache holds it)
    username = admin_demo.user("market_manager", 2)
    csrf = sign_in(username)
    secret = _secret(
        _post(browser_client, csrf, "/admin/tokens", {"name": "平板", "days": "7"}).text
    )
    token_id = _row(admin_demo, secret[:10]).id
    assert _me(api, secret).status_code == 200
    # when revoking it
    with caplog.at_level(logging.INFO, logger="retailgis.admin"):
        res = _post(browser_client, csrf, f"/admin/tokens/{token_id}/revoke")
    # then the page says so, lists it as revoked (no button), and the row is revoked
    assert res.status_code == 200 and f"已吊销令牌 {secret[:10]}" in res.text
    assert f'<tr id="token-{token_id}" class="token revoked">' in res.text
    assert f"/admin/tokens/{token_id}/revoke" not in res.text and secret not in res.text
    revoked_at = _row(admin_demo, secret[:10]).revoked_at
    assert revoked_at is not None
    assert f"admin: API token {secret[:10]} of {username} revoked by {username}" in caplog.messages
    # and /graphql refuses it once the token cache's entry is older than its few seconds
    clock.now += TOKEN_CACHE_SECONDS
    refused = _me(api, secret)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    # when revoking it again (a stale page, a double click)
    again = _post(browser_client, csrf, f"/admin/tokens/{token_id}/revoke")
    # then it is said to be revoked already and nothing changed
    assert again.status_code == 200
    assert f"令牌 {secret[:10]} 已吊销，无需再次吊销" in again.text
    assert _row(admin_demo, secret[:10]).revoked_at == revoked_at


def test_a_customer_manager_neither_sees_nor_revokes_nor_creates_another_users_token(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, api: TestClient
) -> None:
    # given a token of another customer manager
    mine, theirs = admin_demo.user("customer_manager", 6), admin_demo.user("customer_manager", 7)
    secret, their_id = _direct_token(admin_demo, theirs, "别人的令牌")
    csrf = sign_in(mine)
    # then my page does not list it
    page = browser_client.get("/admin/tokens")
    assert secret[:10] not in page.text and theirs not in page.text
    assert f"/admin/tokens/{their_id}/revoke" not in page.text
    # when I post its revocation
    res = _post(browser_client, csrf, f"/admin/tokens/{their_id}/revoke")
    # then it is not found (its existence not disclosed), and it stays valid
    assert res.status_code == 404 and "找不到该令牌" in res.text
    assert _row(admin_demo, secret[:10]).revoked_at is None
    used = _me(api, secret)
    assert used.json() == {"data": {"me": {"role": "customer_manager"}}}
    # when I post a token for them (the form has no user selector; a forged field)
    before = _tokens(admin_demo)
    res = _post(browser_client, csrf, "/admin/tokens", {"name": "x", "days": "30", "user": theirs})
    # then it is refused beside the form and nothing is created
    assert (
        res.status_code == 200 and '<span class="field-error">只能为自己创建令牌</span>' in res.text
    )
    assert "未创建令牌" in res.text and SECRET_RE.search(res.text) is None
    assert _tokens(admin_demo) == before


def test_it_admin_manages_every_users_tokens(
    admin_app: Starlette, browser_client: TestClient, sign_in: SignIn, admin_demo: Demo,
    api: TestClient, clock: Clock, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # given a customer manager's token made elsewhere, and it_admin signed in
    owner = admin_demo.user("customer_manager", 8)
    theirs, their_id = _direct_token(admin_demo, owner, "旧手机")
    admin = admin_demo.user("it_admin", 0)
    csrf = sign_in(admin)
    # then the page lists every user's tokens with their user, and offers a user selector
    page = browser_client.get("/admin/tokens")
    assert "所有用户的令牌" in page.text and '<select name="user">' in page.text
    listed = re.search(rf'<tr id="token-{their_id}" [^>]*>(.*?)</tr>', page.text, re.S)
    assert listed and f'<td class="user">{owner}</td>' in listed.group(1)
    assert f'<option value="{owner}"' in page.text
    # when it_admin creates a token for the customer manager (a plain form post)
    before = _tokens(admin_demo)
    with caplog.at_level(logging.INFO, logger="retailgis.admin"):
        res = browser_client.post(
            "/admin/tokens", data={"name": "代建", "days": "7", "user": owner, "csrf_token": csrf},
            follow_redirects=False,
        )  # fmt: skip
    # then the whole page shows it once, and the token is the customer manager's
    assert res.status_code == 200 and res.text.lstrip().startswith("<!doctype html>")
    secret = _secret(res.text)
    assert f"已为 {owner} 创建令牌" in res.text and ONCE in res.text
    assert _tokens(admin_demo) == before + 1
    assert _row(admin_demo, secret[:10]).user_id == _user_id(admin_demo, owner)
    assert f"admin: API token {secret[:10]} created for {owner} by {admin} (7 days)" in (
        _messages(caplog)
    )
    assert _me(api, secret).json() == {"data": {"me": {"role": "customer_manager"}}}
    # when it_admin revokes both of the customer manager's tokens
    for prefix in (secret[:10], theirs[:10]):
        res = _post(browser_client, csrf, f"/admin/tokens/{_row(admin_demo, prefix).id}/revoke")
        assert res.status_code == 200 and f"已吊销令牌 {prefix}（{owner}" in res.text
        assert _row(admin_demo, prefix).revoked_at is not None
    # then both are refused by the API once the cache's entries are old
    clock.now += TOKEN_CACHE_SECONDS
    assert [_me(api, s).status_code for s in (secret, theirs)] == [401, 401]
    assert not any(s in m for m in caplog.messages for s in (secret, theirs))


BAD_INPUT = [
    ("days", {"days": "0"}, "有效期须为 1 到 366 天"),
    ("days", {"days": "367"}, "有效期须为 1 到 366 天"),
    ("days", {"days": "九十"}, "有效期须为 1 到 366 之间的整数（天）"),
    ("days", {"days": ""}, "有效期须为 1 到 366 之间的整数（天）"),
    ("days", {"days": "30.5"}, "有效期须为 1 到 366 之间的整数（天）"),
    ("days", {"days": "1_0"}, "有效期须为 1 到 366 之间的整数（天）"),
    ("days", {"days": "-5"}, "有效期须为 1 到 366 之间的整数（天）"),
    ("name", {"name": ""}, "请填写令牌名称"),
    ("name", {"name": "   "}, "请填写令牌名称"),
    ("name", {"name": "长" * 61}, "令牌名称不能超过 60 个字符"),
    ("name", {"name": "a\nb"}, "令牌名称不能含有控制字符或换行"),
]


@pytest.mark.parametrize(("field", "data", "message"), BAD_INPUT)
def test_bad_input_is_shown_beside_its_field_and_creates_nothing(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo,
    field: str, data: dict[str, str], message: str,
) -> None:  # fmt: skip
    csrf = sign_in(admin_demo.user("licensing"))
    before = _tokens(admin_demo)
    entered = {"name": "巡店 App", "days": "90", **data}
    res = _post(browser_client, csrf, "/admin/tokens", entered)
    assert res.status_code == 200 and "未创建令牌" in res.text
    beside = rf'name="{field}"[^>]*>\s*<span class="field-error">{re.escape(message)}</span>'
    assert re.search(beside, res.text), res.text
    assert SECRET_RE.search(res.text) is None and ONCE not in res.text
    assert _tokens(admin_demo) == before


def test_it_admin_cannot_create_a_token_for_an_unknown_or_deactivated_user(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    # given a deactivated user
    with Session(admin_demo.engine) as s, s.begin():
        city = s.scalars(select(OrgUnit.code).where(OrgUnit.kind == "city")).first()
        assert city is not None
        gone = create_user(
            s, username="tok_departed", display_name="已离职", role="sales_dept",
            scope_code=city, password="departed-password-1",
        )  # fmt: skip
        gone_id = gone.id
        s.execute(update(User).where(User.id == gone_id).values(is_active=False))
    csrf = sign_in(admin_demo.user("it_admin", 1))
    # then the selector does not offer them
    assert 'value="tok_departed"' not in browser_client.get("/admin/tokens").text
    before = _tokens(admin_demo)
    for username, message in (("tok_departed", "用户 tok_departed 已停用"),
                              ("tok_nobody", "找不到用户 tok_nobody")):  # fmt: skip
        # when a token is posted for them
        res = _post(browser_client, csrf, "/admin/tokens",
                    {"name": "x", "days": "30", "user": username})  # fmt: skip
        # then the user field says why and nothing is created
        beside = rf'<select name="user">.*?</select>\s*<span class="field-error">{message}</span>'
        assert re.search(beside, res.text, re.S), res.text
        assert SECRET_RE.search(res.text) is None
    assert _tokens(admin_demo) == before
    assert _tokens(admin_demo, ApiToken.user_id == gone_id) == 0
