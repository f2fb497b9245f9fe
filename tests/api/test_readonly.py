"""Queries run in autocommit sessions that refuse to write; each worker thread reuses one
event loop and leaves no task behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from api.readonly import ReadOnlyWrite, read_only_sessionmaker, run_in_thread_loop
from domain.models import OrgUnit


@pytest.fixture
def ro_engine(fresh_db_url: str) -> Iterator[Engine]:
    """A private database (the tests commit)."""
    eng = create_engine(fresh_db_url, poolclass=NullPool)
    yield eng
    eng.dispose()


@pytest.fixture
def unit(ro_engine: Engine) -> int:
    with ro_engine.begin() as conn:
        return int(
            conn.execute(
                insert(OrgUnit).values(code="xa", name="只读", kind="city").returning(OrgUnit.id)
            ).scalar_one()
        )


def _name(engine: Engine, unit_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(select(OrgUnit.name).where(OrgUnit.id == unit_id)))


_OWN_TRANSACTION = text(
    "SELECT xact_start = query_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
)


def test_a_read_only_session_reads_without_a_transaction(ro_engine: Engine, unit: int) -> None:
    # given a read-only session that has run a statement
    with read_only_sessionmaker(ro_engine)() as session:
        assert session.scalar(select(OrgUnit.name).where(OrgUnit.id == unit)) == "只读"
        # then the next statement runs in a transaction of its own (autocommit)
        assert session.scalar(_OWN_TRANSACTION) is True
    # while a normal session's second statement runs in the transaction of the first
    with Session(ro_engine) as session:
        session.scalar(select(OrgUnit.name).where(OrgUnit.id == unit))
        assert session.scalar(_OWN_TRANSACTION) is False


def test_a_read_only_session_refuses_statements_that_write(ro_engine: Engine, unit: int) -> None:
    with read_only_sessionmaker(ro_engine)() as session, pytest.raises(ReadOnlyWrite):
        session.execute(update(OrgUnit).where(OrgUnit.id == unit).values(name="改"))
    assert _name(ro_engine, unit) == "只读"


def test_a_read_only_session_refuses_to_flush_changes(ro_engine: Engine, unit: int) -> None:
    with read_only_sessionmaker(ro_engine)() as session:
        row = session.get(OrgUnit, unit)
        assert row is not None
        row.name = "改"
        with pytest.raises(ReadOnlyWrite):
            session.flush()
    assert _name(ro_engine, unit) == "只读"


def test_the_thread_loop_is_reused_and_cancels_what_a_request_left() -> None:
    started: list[asyncio.Task[None]] = []

    async def request() -> asyncio.AbstractEventLoop:
        started.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))
        return asyncio.get_running_loop()

    first = run_in_thread_loop(request())
    second = run_in_thread_loop(request())
    assert first is second and not first.is_closed()
    assert all(t.cancelled() for t in started)
