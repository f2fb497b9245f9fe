"""Helpers of the approval-queue tests: fresh tickets on shops no other test uses, and the
state of a ticket (status, steps, ledger) to assert that a refusal changed nothing.

The demo city is shared by the whole tests/admin package, so the queue tests open their own
location-change tickets on shops taken from the end of the id range that have no ticket yet,
each shop at most once per run."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import load_principal
from domain.models import Customer, LedgerEntry, Ticket, TicketStep, User
from domain.tickets.proposals import propose_location
from geo.crs import Crs, from_wgs84
from tests.admin.conftest import VAULT, Demo

_taken: set[int] = set()
_nudge = itertools.count(1)


def user_id(demo: Demo, username: str) -> int:
    uid: int = demo.scalar(select(User.id).where(User.username == username))
    return uid


def free_shop(demo: Demo) -> tuple[int, int]:
    """(customer id, its manager's user id) of an active shop with no ticket at all."""
    with Session(demo.engine) as s:
        rows = s.execute(
            select(Customer.id, Customer.customer_manager_id)
            .where(
                Customer.status == "active",
                Customer.location.is_not(None),
                Customer.customer_manager_id.is_not(None),
                ~select(Ticket.id).where(Ticket.customer_id == Customer.id).exists(),
            )
            .order_by(Customer.id.desc())
        ).all()
    for cid, manager in rows:
        if cid not in _taken:
            _taken.add(cid)
            return int(cid), int(manager)
    raise LookupError("no free shop left in the demo city")


def location_of(demo: Demo, customer_id: int) -> tuple[float, float]:
    with Session(demo.engine) as s:
        loc = s.scalar(select(Customer.location).where(Customer.id == customer_id))
    p = to_shape(loc)
    return float(p.x), float(p.y)


def new_location_ticket(
    demo: Demo, *, maker: str | None = None, crs_mixup: bool = False
) -> tuple[int, int]:
    """A location-change ticket (ticket id, customer id) moving a free shop ~150 m east, by
    the shop's manager (or ``maker``); with ``crs_mixup`` the new point is the old one read
    as GCJ-02 but declared WGS-84, so the ticket carries the LIKELY_CRS_MIXUP warning."""
    cid, manager = free_shop(demo)
    lng, lat = location_of(demo, cid)
    if crs_mixup:
        lng2, lat2 = from_wgs84(lng, lat, Crs.GCJ02)
    else:
        lng2, lat2 = lng + 0.0015 + next(_nudge) * 1e-5, lat
    with Session(demo.engine) as s, s.begin():
        who = user_id(demo, maker) if maker else manager
        ticket = propose_location(
            s, load_principal(s, who), cid, {"lng": lng2, "lat": lat2, "crs": "WGS84"},
            reason="店铺搬迁到隔壁门面", vault=VAULT, now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        return ticket.id, cid


def ticket_state(demo: Demo, ticket_id: int) -> dict[str, Any]:
    """Everything a decision could change: the ticket, its steps, the ledger of its shop."""
    with Session(demo.engine) as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None
        steps = [
            (x.position, x.status, x.decision, x.decided_by_id, x.comment, x.due_at)
            for x in s.scalars(
                select(TicketStep).where(TicketStep.ticket_id == ticket_id).order_by("position")
            )
        ]
        ledger = s.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.customer_id == t.customer_id)
        )
        version = s.scalar(select(Customer.version).where(Customer.id == t.customer_id))
        return {"status": t.status, "updated": t.updated_at, "steps": steps, "ledger": ledger,
                "version": version}  # fmt: skip


def ticket_status(demo: Demo, ticket_id: int) -> str:
    status: str = demo.scalar(select(Ticket.status).where(Ticket.id == ticket_id))
    return status
