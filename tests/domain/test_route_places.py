"""A shop's place on a route in a direct edit (the delivery department edits route and
sequence within its rights): the route row is locked, a place another shop holds is
refused with the field's error and nothing changes, a new route without a place puts the
shop at the route's end; the unique (route, sequence) constraint is never what answers."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.customers.update import update_customer
from domain.errors import DUPLICATE, ValidationFailed
from domain.models import Customer, LedgerEntry
from domain.tickets.decisions import approve_ticket
from domain.vault import Vault
from tests.domain.conftest import PrincipalFor, snapshot


def _two_on_a_route(city: Session) -> tuple[Customer, Customer]:
    route_id = city.scalar(
        select(Customer.delivery_route_id)
        .where(Customer.delivery_route_id.is_not(None))
        .group_by(Customer.delivery_route_id)
        .having(func.count() >= 2)
        .order_by(Customer.delivery_route_id)
        .limit(1)
    )
    a, b = city.scalars(
        select(Customer).where(Customer.delivery_route_id == route_id)
        .order_by(Customer.delivery_sequence).limit(2)
    ).all()  # fmt: skip
    return a, b


def _settle(city: Session) -> None:
    """What commit would check: the deferred unique (route, sequence) constraint."""
    city.flush()
    city.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


def test_a_taken_place_on_the_same_route_is_refused_and_nothing_changes(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    a, b = _two_on_a_route(city)
    before = snapshot(city, a.id)
    with pytest.raises(ValidationFailed) as refused:
        update_customer(
            city, principal_for("delivery_dept"), a.id, a.version,
            {"delivery_sequence": b.delivery_sequence}, vault=vault,
        )  # fmt: skip
    (error,) = refused.value.errors
    assert (error.code, error.field) == (DUPLICATE, "delivery_sequence")
    assert "已被该线路上的另一家客户占用" in error.message
    _settle(city)
    assert snapshot(city, a.id) == before


def test_another_route_without_a_place_puts_the_shop_at_its_end(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    a, _ = _two_on_a_route(city)
    other = city.scalar(
        select(Customer.delivery_route_id).where(
            Customer.delivery_route_id.is_not(None),
            Customer.delivery_route_id != a.delivery_route_id,
        ).limit(1)
    )  # fmt: skip
    last = city.scalar(
        select(func.max(Customer.delivery_sequence)).where(Customer.delivery_route_id == other)
    )
    result = update_customer(
        city, principal_for("delivery_dept"), a.id, a.version, {"delivery_route": other},
        vault=vault,
    )  # fmt: skip
    assert {c.key for c in result.applied} == {"delivery_route", "delivery_sequence"}
    _settle(city)
    assert (a.delivery_route_id, a.delivery_sequence) == (other, last + 1)


def test_a_taken_place_on_another_route_is_refused_and_a_free_one_taken(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    a, _ = _two_on_a_route(city)
    holder = city.scalar(
        select(Customer).where(
            Customer.delivery_route_id.is_not(None),
            Customer.delivery_route_id != a.delivery_route_id,
        ).limit(1)
    )  # fmt: skip
    assert holder is not None
    before = snapshot(city, a.id)
    move = {"delivery_route": holder.delivery_route_id}
    with pytest.raises(ValidationFailed) as refused:
        update_customer(
            city, principal_for("delivery_dept"), a.id, a.version,
            {**move, "delivery_sequence": holder.delivery_sequence}, vault=vault,
        )  # fmt: skip
    assert [(e.code, e.field) for e in refused.value.errors] == [(DUPLICATE, "delivery_sequence")]
    _settle(city)
    assert snapshot(city, a.id) == before
    free = 10_000
    update_customer(
        city, principal_for("delivery_dept"), a.id, a.version,
        {**move, "delivery_sequence": free}, vault=vault,
    )  # fmt: skip
    _settle(city)
    assert (a.delivery_route_id, a.delivery_sequence) == (holder.delivery_route_id, free)


def test_a_sequence_ticket_whose_place_was_taken_goes_stale_and_applies_nothing(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    a, b = _two_on_a_route(city)
    now = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)
    free = 10_000
    # the shop's manager proposes a new place on its route (a route_change ticket)
    proposed = update_customer(
        city, principal_for("customer_manager", of_customer=a), a.id, a.version,
        {"delivery_sequence": free}, vault=vault, reason="按新的走访顺序", now=now,
    )  # fmt: skip
    assert proposed.ticket is not None and proposed.applied == ()
    # meanwhile the delivery department puts another shop of the route on that place
    delivery = principal_for("delivery_dept")
    update_customer(city, delivery, b.id, b.version, {"delivery_sequence": free}, vault=vault)
    _settle(city)
    before = (a.delivery_route_id, a.delivery_sequence, a.version)
    ledger = city.scalar(select(func.count()).select_from(LedgerEntry))
    # when the ticket is approved, nothing applies and the ticket says why
    approve_ticket(city, delivery, proposed.ticket.id, vault=vault, now=now)
    _settle(city)
    city.refresh(a)
    assert proposed.ticket.status == "stale"
    assert (a.delivery_route_id, a.delivery_sequence, a.version) == before
    assert city.scalar(select(func.count()).select_from(LedgerEntry)) == ledger
