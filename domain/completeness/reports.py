"""Completeness reports over the open shops: per manager, per county, per field, and the list
of incomplete shops; one SQL statement each (no Python loop over shops).

Each report stands on a CTE holding every open shop's national and provincial missing counts
(one CASE per catalogue field, from ``rules.missing_condition``). Overdue needs no per-row date
arithmetic in SQL: ``due_on`` never decreases as ``joined_on`` grows, so the overdue shops are
exactly those that joined on or before one cut-off date (``deadlines.overdue_cutoff``), passed
as a single parameter. Closed shops (歇业) are left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from sqlalchemy import CTE, ColumnElement, SQLColumnExpression, and_, func, literal, select, true
from sqlalchemy.orm import Session

from domain.catalogue import FieldSpec, catalogue
from domain.completeness.deadlines import due_date, overdue_cutoff
from domain.completeness.record import ratio
from domain.completeness.rules import CLOSED, missing_flag, missing_keys
from domain.models import Customer, Region, User
from domain.workcal import WorkingCalendar

NEW_SHOP_DAYS = 30

GroupBy = Literal["manager", "county", "field"]


@dataclass(frozen=True)
class CompletenessRow:
    """One manager or county (region); ``key`` None gathers shops without one."""

    group: Literal["manager", "county"]
    key: int | None
    label: str | None  # the manager's display name / the region's name
    shops: int
    complete: int
    incomplete: int
    overdue: int  # incomplete and past due, whenever they joined
    overdue_new: int  # of those, joined within the last NEW_SHOP_DAYS days
    national_ratio: float  # average over the shops
    provincial_ratio: float


@dataclass(frozen=True)
class FieldGapRow:
    key: str
    label_zh: str
    group: str
    national: bool
    missing: int  # shops missing this field
    shops: int  # shops counted


@dataclass(frozen=True)
class IncompleteRow:
    customer_id: int
    customer_code: str
    shop_name: str
    manager_id: int | None
    manager_name: str | None
    missing_count: int
    missing: tuple[str, ...]
    joined_on: dt.date | None
    due_on: dt.date | None
    overdue: bool


# -- SQL building blocks ---------------------------------------------------------------------


def _sum(terms: Sequence[ColumnElement[int]]) -> ColumnElement[int]:
    if not terms:
        return literal(0)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def shops_subquery(specs: Sequence[FieldSpec], scope: ColumnElement[bool] | None) -> CTE:
    """Open shops in ``scope`` with their national and provincial missing counts (a CTE)."""
    national = _sum([missing_flag(s, specs) for s in specs if s.national])
    provincial = _sum([missing_flag(s, specs) for s in specs if not s.national])
    stmt = select(
        Customer.id,
        Customer.customer_manager_id,
        Customer.admin_region_id,
        Customer.joined_on,
        national.label("national_missing"),
        provincial.label("provincial_missing"),
    ).where(Customer.status != CLOSED)
    if scope is not None:
        stmt = stmt.where(scope)
    # MATERIALIZED: computed once per shop; inlined, PostgreSQL would repeat the 68 CASEs
    # for every reference to the counts (incomplete, overdue, sums).
    return stmt.cte("shops").prefix_with("MATERIALIZED")


def _average_ratio(missing: int, shops: int, per_shop: int) -> float:
    """The mean over ``shops`` of (filled / per_shop), from the group's total missing."""
    return ratio(shops * per_shop - missing, shops * per_shop)


# -- reports ---------------------------------------------------------------------------------


@overload
def completeness_by(
    session: Session,
    group: Literal["manager", "county"],
    *,
    today: dt.date,
    calendar: WorkingCalendar,
    scope: ColumnElement[bool] | None = None,
    fields: Sequence[FieldSpec] | None = None,
) -> list[CompletenessRow]: ...


@overload
def completeness_by(
    session: Session,
    group: Literal["field"],
    *,
    today: dt.date,
    calendar: WorkingCalendar,
    scope: ColumnElement[bool] | None = None,
    fields: Sequence[FieldSpec] | None = None,
) -> list[FieldGapRow]: ...


def completeness_by(
    session: Session,
    group: GroupBy,
    *,
    today: dt.date,
    calendar: WorkingCalendar,
    scope: ColumnElement[bool] | None = None,
    fields: Sequence[FieldSpec] | None = None,
) -> list[CompletenessRow] | list[FieldGapRow]:
    """Completeness of the open shops in ``scope`` per manager, per county or per field."""
    specs = catalogue() if fields is None else fields
    if group == "field":
        return _by_field(session, specs, scope)
    if group in ("manager", "county"):
        return _by_owner(session, group, specs, scope, today=today, calendar=calendar)
    raise ValueError(f"unknown grouping {group!r}")


def _by_owner(
    session: Session,
    group: Literal["manager", "county"],
    specs: Sequence[FieldSpec],
    scope: ColumnElement[bool] | None,
    *,
    today: dt.date,
    calendar: WorkingCalendar,
) -> list[CompletenessRow]:
    shops = shops_subquery(specs, scope)
    incomplete = (shops.c.national_missing + shops.c.provincial_missing) > 0
    overdue = and_(incomplete, shops.c.joined_on <= overdue_cutoff(calendar=calendar, today=today))
    new_since = today - dt.timedelta(days=NEW_SHOP_DAYS)
    label: SQLColumnExpression[str]
    sort: SQLColumnExpression[Any]
    if group == "manager":
        key, label, sort = shops.c.customer_manager_id, User.display_name, User.id
        joined = shops.outerjoin(User, User.id == key)
    else:
        key, label, sort = shops.c.admin_region_id, Region.name, Region.code
        joined = shops.outerjoin(Region, Region.id == key)
    stmt = (
        select(
            key,
            label,
            func.count(),
            func.count().filter(incomplete),
            func.count().filter(overdue),
            func.count().filter(and_(overdue, shops.c.joined_on >= new_since)),
            func.coalesce(func.sum(shops.c.national_missing), 0),
            func.coalesce(func.sum(shops.c.provincial_missing), 0),
        )
        .select_from(joined)
        .group_by(key, label, sort)
        .order_by(sort.asc().nulls_last(), key.asc().nulls_last())
    )
    national_total = sum(s.national for s in specs)
    provincial_total = len(specs) - national_total
    return [
        CompletenessRow(
            group=group,
            key=k,
            label=name,
            shops=n,
            complete=n - bad,
            incomplete=bad,
            overdue=late,
            overdue_new=late_new,
            national_ratio=_average_ratio(int(nat_missing), n, national_total),
            provincial_ratio=_average_ratio(int(prov_missing), n, provincial_total),
        )
        for k, name, n, bad, late, late_new, nat_missing, prov_missing in session.execute(stmt)
    ]


def _by_field(
    session: Session, specs: Sequence[FieldSpec], scope: ColumnElement[bool] | None
) -> list[FieldGapRow]:
    sums = [func.coalesce(func.sum(missing_flag(s, specs)), 0) for s in specs]
    stmt = select(func.count(), *sums).where(Customer.status != CLOSED)
    if scope is not None:
        stmt = stmt.where(scope)
    shops, *missing = session.execute(stmt).one()
    return [
        FieldGapRow(s.key, s.label_zh, s.group, s.national, int(m), int(shops))
        for s, m in zip(specs, missing, strict=True)
    ]


def incomplete_customers(
    session: Session,
    *,
    today: dt.date,
    calendar: WorkingCalendar,
    scope: ColumnElement[bool] | None = None,
    overdue_only: bool = False,
    limit: int = 100,
    offset: int = 0,
    fields: Sequence[FieldSpec] | None = None,
) -> list[IncompleteRow]:
    """Open incomplete shops in ``scope``, longest waiting first (joined_on, then id)."""
    specs = catalogue() if fields is None else fields
    shops = shops_subquery(specs, scope)
    missing_count = shops.c.national_missing + shops.c.provincial_missing
    cutoff = overdue_cutoff(calendar=calendar, today=today)
    page = (
        select(shops.c.id, shops.c.joined_on, missing_count.label("missing_count"))
        .where(missing_count > 0, shops.c.joined_on <= cutoff if overdue_only else true())
        .order_by(shops.c.joined_on.asc().nulls_last(), shops.c.id)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    # The keys are spelled out for the page's rows only.
    stmt = (
        select(
            Customer.id,
            Customer.customer_code,
            Customer.shop_name,
            Customer.customer_manager_id,
            User.display_name,
            page.c.missing_count,
            missing_keys(specs),
            Customer.joined_on,
        )
        .join(page, page.c.id == Customer.id)
        .outerjoin(User, User.id == Customer.customer_manager_id)
        .order_by(page.c.joined_on.asc().nulls_last(), page.c.id)
    )
    return [
        IncompleteRow(
            customer_id=cid,
            customer_code=code,
            shop_name=name,
            manager_id=manager_id,
            manager_name=manager_name,
            missing_count=count,
            missing=tuple(keys),
            joined_on=joined_on,
            due_on=due_date(joined_on, calendar=calendar, today=today),
            overdue=joined_on is not None and joined_on <= cutoff,
        )
        for cid, code, name, manager_id, manager_name, count, keys, joined_on in (
            session.execute(stmt)
        )
    ]
