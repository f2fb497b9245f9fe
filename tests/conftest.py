"""Test fixtures: one embedded PostGIS cluster per run, a migrated template database,
and per-test isolation (an outer transaction rolled back, or a fresh copy of the template).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from api.db import migrate
from api.pgcluster import ClusterConfig, EmbeddedCluster
from domain.workcal.stored import STORED
from tests.support import free_port, traversable_tmpdir

TEMPLATE_DB = "retailgis_template"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedCluster]:
    root = traversable_tmpdir("rgis-test-")
    cluster = EmbeddedCluster(
        ClusterConfig(
            data_dir=root / "pg", port=free_port(), database=TEMPLATE_DB, fast_unsafe=True
        )
    )
    cluster.start()
    migrate(cluster.url(TEMPLATE_DB))
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def db_url(pg_cluster: EmbeddedCluster) -> str:
    """A migrated database shared by the run; tests isolate through `db_conn` / `session`."""
    name = "retailgis_test"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    return pg_cluster.url(name)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(db_url, poolclass=NullPool)
    yield eng
    eng.dispose()


@pytest.fixture
def db_conn(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()


@pytest.fixture
def session(db_conn: Connection) -> Iterator[Session]:
    """An ORM session bound to the rolled-back connection; commits become savepoints."""
    with Session(bind=db_conn, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
def fresh_db_url(pg_cluster: EmbeddedCluster) -> Iterator[str]:
    """A private copy of the migrated template, for tests that must commit."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def empty_db_url(pg_cluster: EmbeddedCluster) -> Iterator[str]:
    """A database with the extensions but no schema (for migration tests)."""
    name = f"e_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture(scope="module", autouse=True)
def _calendar_loader_of_the_module() -> Iterator[None]:
    """``create_app`` installs the process's loader of entered calendar years on its app's
    database; a module's database is dropped at its end, so the loader goes with it (a
    later module would otherwise ask a dropped database every 30 s)."""
    yield
    STORED.install(None)
