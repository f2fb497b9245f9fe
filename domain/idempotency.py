"""Idempotency keys: a retried write with the same key is answered, not applied again.

The transport calls `claim` before executing a keyed request (it takes a transaction-scoped
advisory lock on the user and key, so concurrent retries wait for the first to commit),
then `remember` with the response in the same transaction. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from domain.models import IdempotencyKey

MAX_KEY_LENGTH = 200
# Keys are kept this long; `purge` removes older ones.
RETENTION = dt.timedelta(days=7)


@dataclass(frozen=True)
class Remembered:
    operation: str
    request_hash: str
    response: str


def request_hash(operation: str, arguments: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the operation and its arguments (key order free)."""
    canonical = json.dumps(
        {"operation": operation, "arguments": arguments},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


def lock_id(user_id: int, key: str) -> int:
    """The advisory lock id of a user's key: 64 bits of a hash, as a signed bigint."""
    digest = hashlib.sha256(f"idempotency:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def claim(session: Session, *, user_id: int, key: str) -> Remembered | None:
    """Lock the user's key until the transaction ends and return what it answered before.

    A concurrent request with the same key waits here until the first one commits (then
    it sees the stored response) or rolls back (then it executes itself).
    """
    session.execute(select(func.pg_advisory_xact_lock(lock_id(user_id, key))))
    row = session.get(IdempotencyKey, (user_id, key), populate_existing=True)
    if row is None:
        return None
    return Remembered(row.operation, row.request_hash, row.response)


def remember(
    session: Session, *, user_id: int, key: str, operation: str, hash_: str, response: str
) -> None:
    """Store the response of a claimed key (the caller holds the lock from `claim`)."""
    session.add(
        IdempotencyKey(
            user_id=user_id, key=key, operation=operation, request_hash=hash_, response=response
        )
    )
    session.flush()


def purge(session: Session, *, now: dt.datetime, keep: dt.timedelta = RETENTION) -> int:
    """Delete keys older than ``keep``; returns how many."""
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - keep))
    return int(result.rowcount)  # type: ignore[attr-defined]
