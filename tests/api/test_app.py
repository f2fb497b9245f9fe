"""GET /healthz and POST /graphql on the ASGI app, against real databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings


def _client(url: str) -> Iterator[TestClient]:
    engine = create_engine(url, poolclass=NullPool)
    with TestClient(create_app(Settings(app_env="test"), engine)) as client:
        yield client
    engine.dispose()


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    yield from _client(db_url)


def test_healthz_is_200_when_migrations_are_at_head(client: TestClient) -> None:
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.json() == {"status": "ok", "database": "ok", "migrations": "head"}


def test_healthz_is_503_when_the_database_is_not_migrated(empty_db_url: str) -> None:
    # given a database that answers but has no schema
    for client in _client(empty_db_url):
        res = client.get("/healthz")
        assert res.status_code == 503
        assert res.json()["migrations"].startswith("at none, head is ")


def test_healthz_is_503_when_the_database_does_not_answer(pg_cluster) -> None:  # type: ignore[no-untyped-def]
    # given a URL whose socket nobody listens on
    url = pg_cluster.url("retailgis_test").replace(f"port={pg_cluster.config.port}", "port=1")
    for client in _client(url):
        res = client.get("/healthz")
        assert res.status_code == 503
        assert res.json() == {"status": "unavailable", "database": "unreachable"}


def test_graphql_answers_typename(client: TestClient) -> None:
    res = client.post("/graphql", json={"query": "{ __typename }"})
    assert res.status_code == 200
    assert res.json() == {"data": {"__typename": "Query"}}


def test_graphql_reports_a_bad_query_as_an_error_not_a_crash(client: TestClient) -> None:
    res = client.post("/graphql", json={"query": "{ nope }"})
    assert res.status_code == 200
    body = res.json()
    assert body["data"] is None
    assert "Cannot query field 'nope'" in body["errors"][0]["message"]
