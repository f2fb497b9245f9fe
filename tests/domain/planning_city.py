"""A committed 300-shop demo city for planning tests: plans are computed by jobs that
commit in their own transactions, as in production."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from domain.access import Principal, load_principal
from domain.demo import load_demo
from domain.models import Customer, DeliveryRoute, User
from domain.vault import Vault

VAULT = Vault(b"retailgis-plan-test-secret-0123456789")
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Xi'an


@dataclass
class PlanCity:
    engine: Engine
    sessions: sessionmaker[Session]

    def principal(self, role: str, nth: int = 0) -> Principal:
        with self.sessions() as s:
            ids = s.scalars(select(User.id).where(User.role == role).order_by(User.id)).all()
            return load_principal(s, ids[nth])

    def busiest_day(self) -> tuple[int, int]:
        with self.sessions() as s:
            return busiest_day(s)

    def assignment(self) -> dict[int, tuple[Any, ...]]:
        with self.sessions() as s:
            rows = s.execute(
                select(Customer.id, Customer.delivery_route_id, Customer.delivery_sequence,
                       Customer.order_batch, Customer.visit_batch, Customer.version)
            ).all()  # fmt: skip
            return {r[0]: tuple(r[1:]) for r in rows}


def busiest_day(session: Session) -> tuple[int, int]:
    """(depot id, weekday) with the most shops on its routes."""
    row = session.execute(
        select(DeliveryRoute.depot_id, DeliveryRoute.weekday)
        .join(Customer, Customer.delivery_route_id == DeliveryRoute.id)
        .group_by(DeliveryRoute.depot_id, DeliveryRoute.weekday)
        .order_by(func.count().desc(), DeliveryRoute.depot_id, DeliveryRoute.weekday)
        .limit(1)
    ).one()
    return int(row[0]), int(row[1])


def make_plan_city(pg_cluster: Any, name: str) -> Iterator[PlanCity]:
    pg_cluster.create_database(name, template="retailgis_template")
    engine = create_engine(pg_cluster.url(name), poolclass=NullPool)
    with engine.begin() as conn:
        load_demo(conn, shops=300, seed=23, as_of=dt.date(2026, 11, 1), vault=VAULT)
    try:
        yield PlanCity(engine, sessionmaker(engine, expire_on_commit=False))
    finally:
        engine.dispose()
        pg_cluster.drop_database(name)


@pytest.fixture(scope="module")
def plan_city(pg_cluster: Any) -> Iterator[PlanCity]:
    yield from make_plan_city(pg_cluster, f"plan_{id(object()):x}")
