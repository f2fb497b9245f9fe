"""Fixtures for the archive: a small demo city inside the test's transaction, a vault,
and principals for each role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.demo import load_demo
from domain.models import Customer, LedgerEntry, Ticket, TicketChange, User
from domain.vault import Vault

AS_OF = dt.date(2026, 11, 1)


@pytest.fixture
def vault() -> Vault:
    return Vault(b"retailgis-test-secret-0123456789abcdef")


@pytest.fixture
def city(session: Session) -> Session:
    """A 300-shop demo city loaded in the test's (rolled back) transaction."""
    load_demo(session.connection(), shops=300, seed=7, as_of=AS_OF)
    session.expire_all()
    return session


PrincipalFor = Callable[..., Principal]


@pytest.fixture
def principal_for(city: Session) -> PrincipalFor:
    """The principal of the first user with the role (or the user owning a given shop)."""

    def make(role: str, *, of_customer: Customer | None = None) -> Principal:
        if of_customer is not None and role == "customer_manager":
            assert of_customer.customer_manager_id is not None
            return load_principal(city, of_customer.customer_manager_id)
        user_id = city.scalar(select(User.id).where(User.role == role).order_by(User.id))
        assert user_id is not None, role
        return load_principal(city, user_id)

    return make


def snapshot(session: Session, customer_id: int) -> tuple[object, ...]:
    """Everything a refused call must leave untouched."""
    session.expire_all()
    customer = session.get(Customer, customer_id)
    assert customer is not None
    row = tuple(getattr(customer, c.key) for c in Customer.__table__.columns if c.key != "location")
    counts = tuple(
        session.scalar(select(func.count()).select_from(t))
        for t in (LedgerEntry, Ticket, TicketChange)
    )
    return row + counts
