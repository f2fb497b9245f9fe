"""Tickets as seen through the API (the tickets feature module extends them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry

from domain.models import Ticket as TicketRow


@strawberry.type(description="工单")
class Ticket:
    id: int
    type: str
    status: str
    title: str
    reason: str | None
    created_at: dt.datetime
    customer_id: int | None


def ticket_node(row: TicketRow | Any) -> Ticket:
    """From an ORM row or a result row with the same columns."""
    return Ticket(
        id=row.id, type=row.type, status=row.status, title=row.title, reason=row.reason,
        created_at=row.created_at, customer_id=row.customer_id,
    )  # fmt: skip
