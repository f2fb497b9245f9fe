"""Personal values stay out of error texts and logs: the engine hides bound parameters,
and unexpected errors are logged by type, SQLSTATE and frames, never by their message."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.db import make_engine
from schema.security import describe_unexpected

PHONE = "13812345678"


def test_errors_do_not_carry_bound_parameters(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(DBAPIError) as err, engine.connect() as conn:
            conn.execute(text("SELECT 1 / 0 WHERE CAST(:phone AS text) <> ''"), {"phone": PHONE})
        assert PHONE not in str(err.value)
        assert "hidden due to hide_parameters" in str(err.value)
    finally:
        engine.dispose()


def test_the_log_line_of_an_unexpected_error_never_holds_its_message(db_url: str) -> None:
    # given a database error whose message echoes the value (PostgreSQL does that)
    engine = make_engine(db_url)
    try:
        with pytest.raises(DBAPIError) as err, engine.connect() as conn:
            conn.execute(text("SELECT CAST(:phone AS integer)"), {"phone": PHONE})
    finally:
        engine.dispose()
    assert PHONE in str(err.value)
    # when it is described for the log
    line = describe_unexpected(err.value, ["customers"])
    # then the type, SQLSTATE and frames are there, the value is not
    assert PHONE not in line
    assert "DataError" in line and "SQLSTATE 22003" in line and "in ['customers']" in line
    assert "test_db.py:" in line


def test_read_pool_pings_a_connection_only_after_it_sat_idle(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the read-only requests' pool (one connection) with a short idle limit
    import api.db as db

    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.3)
    base = make_engine(db_url, pool_size=1, max_overflow=0)
    readers = db.read_engine(base, 1)
    pings: list[bool] = []
    real_ping = readers.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        alive = False
        try:
            alive = real_ping(dbapi_connection)
        finally:
            pings.append(alive)
        return alive

    monkeypatch.setattr(readers.dialect, "do_ping", counted)
    try:
        with readers.connect() as conn:
            pid = conn.scalar(text("SELECT pg_backend_pid()"))
            # (made in autocommit: a read-only request needs no BEGIN, COMMIT or switch)
            assert conn.connection.dbapi_connection.autocommit is True  # type: ignore[union-attr]
            assert conn.scalar(text("SELECT now() = statement_timestamp()")) is True
        # when it is used again at once: no round trip to check it
        with readers.connect() as conn:
            assert conn.scalar(text("SELECT pg_backend_pid()")) == pid
        assert pings == []
        # when its backend dies while it sits in the pool beyond the limit
        with base.connect() as other:
            assert other.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        time.sleep(0.4)
        # then the checkout pings it, finds it gone and hands out a new connection
        with readers.connect() as conn:
            assert conn.scalar(text("SELECT pg_backend_pid()")) != pid
        assert pings == [False]  # one check, of the dead one; the new one needs none
        assert readers.pool.checkedout() == 0
    finally:
        readers.dispose()
        base.dispose()
