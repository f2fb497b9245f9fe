"""A committed 300-shop demo city served by the real app, and bearer tokens per role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from api.app import create_app
from api.principals import PrincipalCache
from api.settings import Settings
from domain.demo import load_demo
from domain.models import User
from domain.users import create_token
from domain.vault import Vault
from tests.support import traversable_tmpdir

VAULT = Vault(b"retailgis-api-test-secret-0123456789")


@pytest.fixture(scope="module")
def api_db(pg_cluster: Any) -> Iterator[Engine]:
    name = f"api_{id(object()):x}"
    pg_cluster.create_database(name, template="retailgis_template")
    engine = create_engine(pg_cluster.url(name), poolclass=NullPool)
    with engine.begin() as conn:
        load_demo(conn, shops=300, seed=11, as_of=dt.date(2026, 11, 1), vault=VAULT)
    yield engine
    engine.dispose()
    pg_cluster.drop_database(name)


@pytest.fixture(scope="module")
def client(api_db: Engine) -> Iterator[TestClient]:
    settings = Settings(app_env="test", data_dir=traversable_tmpdir("rgis-api-"))
    # tokens stay cached for the module (none is revoked here), so a statement count never
    # depends on whether a token's entry has just expired (tests/api/test_tokens.py has those)
    principals = PrincipalCache(seconds=3600)
    with TestClient(create_app(settings, api_db, vault=VAULT, principals=principals)) as c:
        yield c


@pytest.fixture(scope="module")
def token_for(api_db: Engine) -> Callable[[str], str]:
    """A bearer token for a user, by username."""
    cache: dict[str, str] = {}

    def make(username: str) -> str:
        if username not in cache:
            with Session(api_db) as s, s.begin():
                cache[username] = create_token(s, username=username)
        return cache[username]

    return make


@pytest.fixture(scope="module")
def username_of(api_db: Engine) -> Callable[[str], str]:
    def first(role: str) -> str:
        with Session(api_db) as s:
            name = s.scalar(select(User.username).where(User.role == role).order_by(User.id))
            assert name is not None
            return name

    return first


Gql = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def gql(client: TestClient, token_for: Callable[[str], str]) -> Gql:
    def run(
        query: str, variables: dict[str, Any] | None = None, *, user: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token_for(user)}"} if user else {}
        res = client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert res.status_code == 200, res.text
        return res.json()  # type: ignore[no-any-return]

    return run
