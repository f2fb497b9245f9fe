"""The fuzz suites' own demo city (the 300-shop city of tests/schema, loaded once per
module into a database of its own) and, for mutations, a private copy of it that is thrown
away after the test. The app runs in-process behind starlette's TestClient.

Every answer of ``City.post`` and every record of the ``retailgis`` loggers (at DEBUG)
goes through the personal-data leak scan (tests/leaks.py) against the clear phone numbers,
ID numbers and bank accounts of the city's own database."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
from tests.fuzz.support import LOGS, scan_answer, scan_logs
from tests.leaks import FIELDS, LogCollector, clear_values
from tests.support import traversable_tmpdir

VAULT = Vault(b"retailgis-fuzz-test-secret-0123456789")
# the roles the fuzzers call as, besides anonymous
ROLES = ("customer_manager", "market_manager", "county_dept", "delivery_dept", "licensing",
         "it_admin")  # fmt: skip


@pytest.fixture(scope="package", autouse=True)
def retailgis_logs() -> Iterator[None]:
    """Every record of the ``retailgis`` loggers at DEBUG, for the leak scan."""
    handler = LogCollector(LOGS)
    logger = logging.getLogger("retailgis")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture(scope="module")
def demo_db(pg_cluster: Any) -> Iterator[str]:
    """The name of a database holding the 300-shop demo city (read-only use, or a template)."""
    name = f"fuzz_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name, template="retailgis_template")
    engine = create_engine(pg_cluster.url(name), poolclass=NullPool)
    with engine.begin() as conn:
        load_demo(conn, shops=300, seed=11, as_of=dt.date(2026, 11, 1), vault=VAULT)
    engine.dispose()
    yield name
    pg_cluster.drop_database(name)


class City:
    """The app over one database, with a bearer token per role; every answer is checked
    for personal data in clear (``clear``: the database's clear values, read when the app
    starts serving it)."""

    def __init__(self, engine: Engine, client: TestClient) -> None:
        self.engine = engine
        self.client = client
        self.clear = clear_values(engine, VAULT)
        assert set(self.clear.values()) == set(FIELDS), "no clear values to look for"
        self.tokens: dict[str, str] = {}
        with Session(engine) as s, s.begin():
            for role in ROLES:
                username = s.scalar(
                    select(User.username).where(User.role == role).order_by(User.id)
                )
                assert username is not None, role
                self.tokens[role] = create_token(s, username=username)

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def post(self, body: Any, role: str | None = None, *, raw: bool = False) -> Any:
        """POST /graphql with a JSON body (or, raw, the bytes or text as given); the answer
        and the log records written meanwhile have passed the leak scan."""
        headers = self.headers(role)
        if raw:
            headers["Content-Type"] = "application/json"
            res = self.client.post("/graphql", content=body, headers=headers)
        else:
            res = self.client.post("/graphql", json=body, headers=headers)
        if isinstance(body, bytes):
            sent = body.decode("utf-8", "replace")
        else:
            sent = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        scan_answer(self.clear, role, res.text, sent)
        return res


@contextmanager
def serve(url: str) -> Iterator[City]:
    engine = create_engine(url, poolclass=NullPool)
    settings = Settings(app_env="test", data_dir=traversable_tmpdir("rgis-fuzz-"))
    app = create_app(settings, engine, vault=VAULT, principals=PrincipalCache(seconds=3600))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            city = City(engine, client)
            yield city
        scan_logs(city.clear)  # what the app logged after the last answer, stopping too
    finally:
        engine.dispose()


@contextmanager
def copy_of(pg_cluster: Any, template: str) -> Iterator[City]:
    """The app over a private copy of the demo city, dropped afterwards."""
    name = f"fuzzc_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name, template=template)
    try:
        with serve(pg_cluster.url(name)) as c:
            yield c
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture(scope="module")
def city(pg_cluster: Any, demo_db: str) -> Iterator[City]:
    """A copy of the demo city shared by a module's read-only tests."""
    with copy_of(pg_cluster, demo_db) as c:
        yield c


@pytest.fixture
def private_city(pg_cluster: Any, demo_db: str) -> Iterator[City]:
    """A copy of the demo city of one test, for mutations that commit."""
    with copy_of(pg_cluster, demo_db) as c:
        yield c
