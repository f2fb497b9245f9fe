"""Bearer tokens: listing without secrets, revocation (domain and CLI), expiry, last use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from api.app import create_app
from api.cli import main
from api.principals import TOKEN_CACHE_SECONDS, PrincipalCache
from api.settings import Settings
from domain.errors import INVALID, NOT_FOUND, DomainError
from domain.models import ApiToken, User
from domain.users import (
    LAST_USED_GRANULARITY,
    create_token,
    create_user,
    list_tokens,
    revoke_token,
    user_for_token,
)
from tests.support import counted_statements, traversable_tmpdir

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def tokens_db(fresh_db_url: str) -> Iterator[Engine]:
    """A fresh database with a city and two users."""
    eng = create_engine(fresh_db_url, poolclass=NullPool)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO org_units (code, name, kind) VALUES ('xa', '西安', 'city')"))
    with Session(eng) as s, s.begin():
        for username in ("wangfang", "lijun"):
            create_user(
                s, username=username, display_name="某", role="it_admin", scope_code="xa",
                password="correct-horse-9",
            )  # fmt: skip
    yield eng
    eng.dispose()


def _token(tokens_db: Engine, username: str, **kwargs: object) -> str:
    with Session(tokens_db) as s, s.begin():
        return create_token(s, username=username, **kwargs)  # type: ignore[arg-type]


def _status(client: TestClient, secret: str) -> int:
    res = client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {secret}"}
    )
    return res.status_code


def _client(tokens_db: Engine, principals: PrincipalCache | None = None) -> TestClient:
    settings = Settings(app_env="test", data_dir=traversable_tmpdir("rgis-tokens-"))
    return TestClient(create_app(settings, tokens_db, principals=principals))


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_revoked_or_expired_token_gets_401(tokens_db: Engine) -> None:
    # given a valid token, a soon revoked one and an expired one, and a server whose token
    # cache keeps a checked token for TOKEN_CACHE_SECONDS
    valid = _token(tokens_db, "wangfang", name="mobile")
    revoked = _token(tokens_db, "wangfang", name="old-phone")
    expired = _token(
        tokens_db, "wangfang", days=1, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    )
    clock = Clock()
    with _client(tokens_db, PrincipalCache(clock=clock)) as client:
        assert [_status(client, t) for t in (valid, revoked, expired)] == [200, 200, 401]
        # when revoking one by its prefix
        with Session(tokens_db) as s, s.begin():
            row = revoke_token(s, prefix=revoked[:10])
        assert row.prefix == revoked[:10] and row.revoked_at is not None
        # then it may still pass while its cache entry is younger than TOKEN_CACHE_SECONDS
        clock.now += TOKEN_CACHE_SECONDS - 0.01
        assert [_status(client, t) for t in (valid, revoked, expired)] == [200, 200, 401]
        # and it is refused from then on; the others are as they were
        clock.now += 0.01
        assert [_status(client, t) for t in (valid, revoked, expired)] == [200, 401, 401]
        res = client.post("/graphql", json={"query": "{ __typename }"},
                          headers={"Authorization": f"Bearer {revoked}"})  # fmt: skip
        assert res.json() == {
            "errors": [
                {
                    "message": "访问令牌无效、已过期或已吊销",
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ]
        }
        clock.now += 3600  # and an hour later, still refused (refusals are never cached)
        assert [_status(client, t) for t in (valid, revoked, expired)] == [200, 401, 401]


def test_a_deactivated_user_is_refused_once_the_cache_entry_is_old(tokens_db: Engine) -> None:
    # given a token checked a moment ago
    secret = _token(tokens_db, "wangfang")
    clock = Clock()
    with _client(tokens_db, PrincipalCache(clock=clock)) as client:
        assert _status(client, secret) == 200
        # when the user is deactivated
        with Session(tokens_db) as s, s.begin():
            s.execute(update(User).where(User.username == "wangfang").values(is_active=False))
        # then the token is refused once TOKEN_CACHE_SECONDS have passed
        clock.now += TOKEN_CACHE_SECONDS
        assert _status(client, secret) == 401


def test_a_cached_token_is_not_looked_up_again(tokens_db: Engine) -> None:
    secret = _token(tokens_db, "wangfang")
    clock = Clock()
    with _client(tokens_db, PrincipalCache(clock=clock)) as client:
        assert _status(client, secret) == 200
        # within TOKEN_CACHE_SECONDS a request reads no token and no user
        with counted_statements(tokens_db) as statements:
            assert _status(client, secret) == 200
        assert statements == []
        # and after them it is checked again (one lookup, one principal)
        clock.now += TOKEN_CACHE_SECONDS
        with counted_statements(tokens_db) as statements:
            assert _status(client, secret) == 200
        assert len(statements) == 2 and "api_tokens" in statements[0]


def test_list_shows_prefixes_and_times_never_secrets(tokens_db: Engine) -> None:
    secret = _token(tokens_db, "wangfang", name="mobile", now=NOW)
    _token(tokens_db, "lijun")
    with Session(tokens_db) as s, s.begin():
        rows = list_tokens(s, "wangfang")
        revoke_token(s, token_id=rows[0].id, now=NOW + dt.timedelta(hours=1))
        rows = list_tokens(s, "wangfang")
        digest = s.scalar(select(ApiToken.token_hash).where(ApiToken.id == rows[0].id))
    assert len(rows) == 1
    row = rows[0]
    assert (row.username, row.name, row.prefix) == ("wangfang", "mobile", secret[:10])
    assert row.expires_at == NOW + dt.timedelta(days=90)
    assert row.revoked_at == NOW + dt.timedelta(hours=1) and row.last_used_at is None
    assert row.status(NOW) == "revoked"
    assert secret not in repr(row) and str(digest) not in repr(row)


def test_revocation_refusals_change_nothing(tokens_db: Engine) -> None:
    a = _token(tokens_db, "wangfang")
    b = _token(tokens_db, "lijun")
    with Session(tokens_db) as s, s.begin():  # make the prefixes collide
        s.execute(update(ApiToken).values(prefix="rgis_same0"))

    def refused(**kwargs: object) -> tuple[str, str]:
        with Session(tokens_db) as s, s.begin():
            with pytest.raises(DomainError) as err:
                revoke_token(s, **kwargs)  # type: ignore[arg-type]
            return err.value.code, err.value.message

    assert refused(prefix="rgis_nope0") == (NOT_FOUND, "找不到令牌 rgis_nope0")
    assert refused(prefix="rgis_same0")[0] == INVALID  # ambiguous
    assert refused() == (INVALID, "须指定令牌编号或前缀之一")
    assert refused(prefix="rgis_same0", token_id=1)[0] == INVALID
    assert refused(prefix="rgis_same0", by_user="ghost")[0] == NOT_FOUND
    with Session(tokens_db) as s:
        assert s.scalars(select(ApiToken.revoked_at)).all() == [None, None]
    # and `by_user` picks one of the colliding prefixes
    with Session(tokens_db) as s, s.begin():
        assert revoke_token(s, prefix="rgis_same0", by_user="lijun").username == "lijun"
        with pytest.raises(DomainError):
            list_tokens(s, "ghost")
    with Session(tokens_db) as s:
        assert user_for_token(s, a) is not None and user_for_token(s, b) is None


def test_last_use_is_recorded_at_most_once_a_minute(tokens_db: Engine) -> None:
    secret = _token(tokens_db, "wangfang", now=NOW - dt.timedelta(days=1))

    def use(at: dt.datetime) -> dt.datetime | None:
        with Session(tokens_db) as s, s.begin():
            assert user_for_token(s, secret, now=at) is not None
        with Session(tokens_db) as s:
            return s.scalar(select(ApiToken.last_used_at))

    assert use(NOW) == NOW
    assert use(NOW + dt.timedelta(seconds=30)) == NOW  # within the minute: no write
    later = NOW + LAST_USED_GRANULARITY
    assert use(later) == later


def test_last_use_does_not_wait_for_a_token_row_held_elsewhere(tokens_db: Engine) -> None:
    secret = _token(tokens_db, "wangfang")
    with tokens_db.connect() as holder:
        # given another transaction holding the token row
        holder.execute(text("SELECT id FROM api_tokens FOR UPDATE"))
        with Session(tokens_db) as s, s.begin():
            s.execute(text("SET LOCAL lock_timeout = '2s'"))
            # when authenticating, then the user is found at once (the write is skipped)
            user = user_for_token(s, secret)
            assert user is not None and user.username == "wangfang"
        holder.rollback()
    with Session(tokens_db) as s:
        assert s.scalar(select(ApiToken.last_used_at)) is None


def test_last_use_is_recorded_by_a_request(tokens_db: Engine) -> None:
    secret = _token(tokens_db, "wangfang")
    with _client(tokens_db) as client:
        assert _status(client, secret) == 200
    with Session(tokens_db) as s:
        used = s.scalar(select(ApiToken.last_used_at))
    assert used is not None and dt.datetime.now(dt.UTC) - used < dt.timedelta(minutes=1)


def test_cli_lists_and_revokes(tokens_db: Engine, fresh_db_url: str) -> None:
    secret = _token(tokens_db, "wangfang", name="mobile")
    env = {"DATABASE_URL": fresh_db_url}
    res = CliRunner().invoke(main, ["tokens", "list", "--user", "wangfang"], env=env)
    assert res.exit_code == 0, res.output
    assert secret[:10] in res.stdout and "有效" in res.stdout and "mobile" in res.stdout
    assert secret not in res.output
    res = CliRunner().invoke(main, ["tokens", "revoke", secret[:10]], env=env)
    assert res.exit_code == 0, res.output
    assert f"令牌 {secret[:10]}（wangfang，mobile）已吊销" in res.output
    res = CliRunner().invoke(main, ["tokens", "list", "--user", "wangfang"], env=env)
    assert "已吊销" in res.stdout
    with Session(tokens_db) as s:
        assert user_for_token(s, secret) is None
        assert s.scalar(select(User.username).join(ApiToken)) == "wangfang"
    # refusals exit 1 with the message
    res = CliRunner().invoke(main, ["tokens", "revoke", "rgis_nope0"], env=env)
    assert res.exit_code == 1 and "找不到令牌 rgis_nope0" in res.output
    res = CliRunner().invoke(main, ["tokens", "list", "--user", "ghost"], env=env)
    assert res.exit_code == 1 and "找不到用户" in res.output
