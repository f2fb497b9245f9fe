"""The psycopg connection under a session, for COPY inside the session's transaction."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.orm import Session


def driver(session: Session) -> psycopg.Connection[Any]:
    raw: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    return raw
