"""Engine, sessions and the unit of work; migrations to head; health of the schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection, PoolResetState

from api.pgcluster import ClusterConfig, EmbeddedCluster
from api.settings import PROJECT_ROOT, Settings
from domain.access.rowsecurity import CONNECTION_MARK, LEAVE_SQL, SCOPE_CACHE

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# A pooled read connection is checked with a round trip only after this long in the pool.
PING_AFTER_IDLE_S = 2.0
_RETURNED_AT = "retailgis_returned_at"


# PostgreSQL compiles a query to machine code once its estimated cost passes jit_above_cost
# (100,000): 50-90 ms of compiling for a depot's day of shops or a route's figures, which
# then run in a few ms. The application's queries are short; none gains from JIT.
NO_JIT = "-c jit=off"


def make_engine(url: str | URL, **kwargs: object) -> Engine:
    """The application's engine. Bound parameters (which may be phone numbers, bank
    accounts, ID numbers) are kept out of exception texts, so logs never carry them; no
    JIT compilation (``NO_JIT``)."""
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("hide_parameters", True)
    connect_args = dict(kwargs.pop("connect_args", None) or {})  # type: ignore[call-overload]
    connect_args.setdefault("options", NO_JIT)
    return create_engine(url, connect_args=connect_args, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _leave_row_security(
    dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    """A connection whose scope role was set for the connection (a read-only request in
    autocommit) goes back to the pool as the owner: the next user of the connection (the
    periodic run, another request before it sets its own scope) never inherits it."""
    record.info.pop(SCOPE_CACHE, None)
    if not record.info.pop(CONNECTION_MARK, False) or state.terminate_only:
        return
    if not dbapi_connection.autocommit:
        dbapi_connection.rollback()
    dbapi_connection.execute(LEAVE_SQL)
    if not dbapi_connection.autocommit:
        dbapi_connection.commit()


def read_engine(engine: Engine, size: int) -> Engine:
    """A pool of its own for the read-only requests, on the same database: only they use
    its connections, so a connection keeps the scope role of its last request and the next
    request of that scope sends nothing (``domain.access.rowsecurity.enter_scope``); no
    owner code ever gets one. ``size`` connections at most (the requests a process runs at
    once); a test's engine without a pool gets a sibling without one."""
    # every read-only request runs in autocommit: set once per connection, not switched
    # on every checkout and back on every return
    if isinstance(engine.pool, NullPool):
        return make_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    readers = make_engine(
        engine.url, pool_size=size, max_overflow=0, pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
    )  # fmt: skip
    ping_when_idle(readers, PING_AFTER_IDLE_S)
    return readers


def ping_when_idle(engine: Engine, seconds: float) -> None:
    """Check a pooled connection with a round trip only when it has been in the pool for
    more than ``seconds`` (``pool_pre_ping`` pings at every checkout: one round trip more
    per request, the largest part of a small query's cost). A connection returned a
    moment ago was working a moment ago. If the server went away in that moment, the
    request it serves fails once, SQLAlchemy recognises the disconnect and invalidates
    the pool's connections, and the next requests connect anew; after a longer outage
    every connection has been idle long enough to be pinged and replaced first."""

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is not None and time.monotonic() - returned <= seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool replaces it (and tries again, up to 3 times)
            raise DisconnectionError("the pooled connection is gone") from exc
        if not alive:
            raise DisconnectionError("the pooled connection is gone")


def reset_row_security(engine: Engine) -> None:
    """Install the pool's reset of connection-level scope roles (once per engine)."""
    if not event.contains(engine, "reset", _leave_row_security):
        event.listen(engine, "reset", _leave_row_security)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revisions() -> set[str]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return set(script.get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def schema_is_current(engine: Engine) -> bool:
    """True when the database answers and its migrations are at head."""
    return current_revisions(engine) == head_revisions()


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def migrations_path() -> Path:
    return MIGRATIONS_DIR


def embedded_cluster(settings: Settings) -> EmbeddedCluster:
    return EmbeddedCluster(
        ClusterConfig(data_dir=settings.pg_dir, port=settings.pg_port, os_user=settings.pg_os_user)
    )


def database_url(settings: Settings, *, start: bool = True) -> str:
    """The URL to use: DATABASE_URL, or the embedded cluster's (started when asked)."""
    if settings.database_url:
        return settings.database_url
    cluster = embedded_cluster(settings)
    if start:
        cluster.start()
    return cluster.url()
