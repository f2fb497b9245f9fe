"""Sessions for requests that only read, and the event loop a worker thread reuses.

A GraphQL query reads; under PostgreSQL's READ COMMITTED every statement takes its own
snapshot whether or not a transaction wraps them, so a query runs in autocommit and saves
the BEGIN and COMMIT round trips. Its session refuses to write (an INSERT, UPDATE or
DELETE, or a flush, raises), so a resolver that one day writes cannot commit half of its
work: writes belong in mutations, which keep one transaction per request. The bearer
token's `last_used_at` (an UPDATE inside the lookup's SELECT) commits on its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

T = TypeVar("T")


class ReadOnlyWrite(RuntimeError):
    """A write was attempted while answering a query."""


class ReadOnlySession(Session):
    """A session in autocommit that refuses writes."""


@event.listens_for(ReadOnlySession, "do_orm_execute")
def _refuse_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlyWrite("a query may not write; use a mutation")


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_flush(session: Session, flush: UOWTransaction, instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyWrite("a query may not write; use a mutation")


def read_only_sessionmaker(engine: Engine, *, in_autocommit: bool = False) -> sessionmaker[Session]:
    """Sessions in autocommit: ``in_autocommit`` says the engine's connections are made so
    (``api.db.read_engine``); else each connection they use is switched to it and back."""
    if not in_autocommit:
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return sessionmaker(engine, class_=ReadOnlySession, expire_on_commit=False)


_local = threading.local()


def run_in_thread_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on this thread's own event loop, made once per worker
    thread (``asyncio.run`` would make and close a loop for each request). Tasks it leaves
    behind are cancelled, as ``asyncio.run`` does, so none runs during the next request."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        pending = asyncio.all_tasks(loop)
        if pending:
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
