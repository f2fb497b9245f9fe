"""Personal values stay out of error texts and logs: the engine hides bound parameters,
and unexpected errors are logged by type, SQLSTATE and frames, never by their message."""

from __future__ import annotations

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
