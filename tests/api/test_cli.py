"""The retailgis CLI against a real database given by DATABASE_URL."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from api.cli import main
from domain.models import ApiToken, User
from domain.passwords import verify_password
from domain.users import user_for_token


def _seed_org(url: str) -> None:
    eng = create_engine(url, poolclass=NullPool)
    with eng.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO org_units (code, name, kind) VALUES ('xa', '西安市烟草公司', 'city');"
                "INSERT INTO org_units (code, name, kind, parent_id)"
                " SELECT 'yt', '雁塔区营销部', 'county', id FROM org_units WHERE code = 'xa'"
            )
        )
    eng.dispose()


def _run(url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": url}, catch_exceptions=False)


def test_users_create_list_and_tokens(fresh_db_url: str) -> None:
    # given a database with a city and a county
    _seed_org(fresh_db_url)
    # when creating a user
    res = _run(
        fresh_db_url, "users", "create", "--username", "wangfang", "--name", "王芳",
        "--role", "county_dept", "--scope", "yt", "--password", "correct-horse-9",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    # then list prints name, role and scope
    res = _run(fresh_db_url, "users", "list")
    assert res.exit_code == 0
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("wangfang"))
    assert "county_dept" in line and "雁塔区营销部" in line and "王芳" in line
    # and the password is stored as an argon2id hash
    eng = create_engine(fresh_db_url, poolclass=NullPool)
    with Session(eng) as s:
        user = s.scalars(select(User).where(User.username == "wangfang")).one()
        assert user.password_hash and user.password_hash.startswith("$argon2id$")
        assert verify_password(user.password_hash, "correct-horse-9")
    # when creating a token, its secret is the last line and it identifies the user
    res = _run(fresh_db_url, "tokens", "create", "--user", "wangfang")
    assert res.exit_code == 0, res.output
    secret = res.stdout.strip().splitlines()[-1]
    with Session(eng) as s:
        found = user_for_token(s, secret)
        assert found is not None and found.username == "wangfang"
        assert s.scalar(select(ApiToken.token_hash)) != secret  # stored hashed
    eng.dispose()


def test_refusals_change_nothing(fresh_db_url: str) -> None:
    _seed_org(fresh_db_url)
    eng = create_engine(fresh_db_url, poolclass=NullPool)

    def counts() -> tuple[int, int]:
        with Session(eng) as s:
            return (
                s.scalar(select(func.count(User.id))) or 0,
                s.scalar(select(func.count(ApiToken.id))) or 0,
            )

    before = counts()

    def create(username: str, role: str, scope: str, password: str) -> list[str]:
        return ["users", "create", "--username", username, "--name", "某", "--role", role,
                "--scope", scope, "--password", password]  # fmt: skip

    cases = [
        (create("xyz1", "boss", "yt", "long-enough-1"), "未知角色"),
        (create("abc", "it_admin", "nowhere", "long-enough-1"), "找不到组织单元"),
        (create("abc", "it_admin", "xa", "short"), "密码至少"),
        (create("Bad Name", "it_admin", "xa", "long-enough-1"), "用户名须为"),
        (["tokens", "create", "--user", "ghost"], "找不到用户"),
        (["tokens", "create", "--user", "ghost", "--days", "0"], "有效期"),
    ]
    for args, message in cases:
        res = CliRunner().invoke(main, args, env={"DATABASE_URL": fresh_db_url})
        assert res.exit_code == 1, res.output
        assert message in res.output
        assert counts() == before
    eng.dispose()


def test_db_url_prints_database_url_and_db_start_refuses_with_it() -> None:
    url = "postgresql+psycopg://u@/d?host=/nowhere"
    res = CliRunner().invoke(main, ["db", "url"], env={"DATABASE_URL": url})
    assert res.exit_code == 0 and res.stdout.strip() == url
    res = CliRunner().invoke(main, ["db", "start"], env={"DATABASE_URL": url})
    assert res.exit_code == 1 and "DATABASE_URL" in res.output
