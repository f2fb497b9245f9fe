"""Profile completeness (档案完整率): every catalogue field is required.

National fields (``*``, 国家局) and provincial ones are counted apart. A field is filled
when its column is not NULL and, for text columns, not blank (whitespace including the
full-width space ``\u3000``); a JSON value is filled unless it is ``null``, ``{}`` or ``[]``.
A field that only applies to some shops (the pickup point, for 定点取货 shops:
``REQUIRED_ONLY_WHEN``) counts as filled elsewhere. The rule is built per field from the
catalogue (or the ``fields`` passed in), so a province's catalogue change is followed.

A new shop's record must be complete within 5 working days of joining (一周内录入完整):
``due_on = calendar.add_working_days(joined_on, 5)``; an incomplete shop is *overdue* when
``today > due_on``. Closed shops (歇业) are left out of the reports and are never overdue.

The reports are one SQL statement each, over a CTE holding every open shop's national and
provincial missing counts (68 CASE expressions from the catalogue; no Python loop over
shops). Overdue needs no per-row date arithmetic in SQL: ``due_on`` never decreases as
``joined_on`` grows, so the overdue shops are exactly those that joined on or before one
cut-off date, found in Python by stepping back from ``today`` (a handful of cached calendar
look-ups) and passed as a single parameter. Shops that joined before the calendar's first
year (2004) are long past due: their ``due_on`` is None and they are overdue if incomplete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from sqlalchemy import (
    CTE,
    ColumnElement,
    SQLColumnExpression,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    true,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON, Text

from domain.catalogue import FieldSpec, catalogue
from domain.errors import CALENDAR_NOT_COVERED, DomainError
from domain.models import Customer, Region, User
from domain.workcal import WorkingCalendar

DUE_WORKING_DAYS = 5
NEW_SHOP_DAYS = 30
CLOSED = "closed"
BLANK_CHARS = " \t\n\r\f\v\u3000\u00a0"
# Fields required only while another column holds one of some values (field key ->
# (column, values)), as the catalogue's notes say ("only for 定点取货"). Elsewhere they
# count as filled. This belongs in fields.csv (a `required_when` column) once it has one.
REQUIRED_ONLY_WHEN: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "pickup_point": ("fulfilment_mode", ("pickup",)),
}

GroupBy = Literal["manager", "county", "field"]


@dataclass(frozen=True)
class Completeness:
    national_filled: int
    national_total: int
    provincial_filled: int
    provincial_total: int
    missing: tuple[str, ...]  # field keys, in catalogue order
    due_on: dt.date | None
    overdue: bool

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def ratio(self) -> float:
        return _ratio(
            self.national_filled + self.provincial_filled,
            self.national_total + self.provincial_total,
        )

    @property
    def national_ratio(self) -> float:
        return _ratio(self.national_filled, self.national_total)

    @property
    def provincial_ratio(self) -> float:
        return _ratio(self.provincial_filled, self.provincial_total)


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


# -- one customer ----------------------------------------------------------------------------


def customer_completeness(
    customer: Customer,
    *,
    calendar: WorkingCalendar,
    today: dt.date,
    fields: Sequence[FieldSpec] | None = None,
) -> Completeness:
    specs = catalogue() if fields is None else fields
    missing = [s for s in specs if _is_missing(customer, s)]
    national_total = sum(s.national for s in specs)
    national_missing = sum(s.national for s in missing)
    due_on = due_date(customer.joined_on, calendar=calendar, today=today)
    overdue = (
        bool(missing)
        and customer.status != CLOSED
        and customer.joined_on is not None
        and (due_on is None or today > due_on)
    )
    return Completeness(
        national_filled=national_total - national_missing,
        national_total=national_total,
        provincial_filled=len(specs) - national_total - (len(missing) - national_missing),
        provincial_total=len(specs) - national_total,
        missing=tuple(s.key for s in missing),
        due_on=due_on,
        overdue=overdue,
    )


def _is_missing(customer: Customer, spec: FieldSpec) -> bool:
    condition = REQUIRED_ONLY_WHEN.get(spec.key)
    if condition is not None and getattr(customer, condition[0]) not in condition[1]:
        return False
    return is_missing_value(getattr(customer, spec.column))


def is_missing_value(value: object) -> bool:
    """None, a blank string, or an empty JSON object/array."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip(BLANK_CHARS)
    return isinstance(value, dict | list) and not value


def due_date(
    joined_on: dt.date | None, *, calendar: WorkingCalendar, today: dt.date
) -> dt.date | None:
    """``joined_on`` + 5 working days; None without ``joined_on`` or before the calendar.

    Only a year at least two years before ``today`` may be uncovered (it precedes the
    calendar, and the shop is long past due); otherwise CALENDAR_NOT_COVERED propagates.
    """
    if joined_on is None:
        return None
    try:
        return calendar.add_working_days(joined_on, DUE_WORKING_DAYS)
    except DomainError as exc:
        if exc.code == CALENDAR_NOT_COVERED and joined_on.year < today.year - 1:
            return None
        raise


def overdue_cutoff(*, calendar: WorkingCalendar, today: dt.date) -> dt.date:
    """The last ``joined_on`` whose due date is before ``today``: overdue ⇔ joined on or before.

    ``add_working_days(j, 5)`` never decreases as ``j`` grows, so one date splits the shops.
    """
    joined = today
    while calendar.add_working_days(joined, DUE_WORKING_DAYS) >= today:
        joined -= dt.timedelta(days=1)
    return joined


# -- SQL building blocks ---------------------------------------------------------------------


def missing_condition(spec: FieldSpec) -> ColumnElement[bool]:
    """SQL true when the customer's column for ``spec`` is missing (the same rule as Python)."""
    col = _column(spec.column, spec.key)
    if isinstance(col.type, String) and not isinstance(col.type, SqlEnum):
        missing = or_(col.is_(None), func.btrim(col, BLANK_CHARS) == "")
    elif isinstance(col.type, JSON):
        missing = or_(col.is_(None), cast(col, Text).in_(["null", "{}", "[]"]))
    else:
        missing = col.is_(None)
    condition = REQUIRED_ONLY_WHEN.get(spec.key)
    if condition is None:
        return missing
    return and_(_column(condition[0], spec.key).in_(condition[1]), missing)


def _column(name: str, key: str) -> Any:
    columns = Customer.__table__.c
    if name not in columns:
        raise ValueError(f"catalogue field {key!r} names no customer column {name!r}")
    return columns[name]


def _missing_flag(spec: FieldSpec) -> ColumnElement[int]:
    return case((missing_condition(spec), 1), else_=0)


def _sum(terms: Sequence[ColumnElement[int]]) -> ColumnElement[int]:
    if not terms:
        return literal(0)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def shops_subquery(specs: Sequence[FieldSpec], scope: ColumnElement[bool] | None) -> CTE:
    """Open shops in ``scope`` with their national and provincial missing counts (a CTE)."""
    national = _sum([_missing_flag(s) for s in specs if s.national])
    provincial = _sum([_missing_flag(s) for s in specs if not s.national])
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


def missing_keys(specs: Sequence[FieldSpec]) -> ColumnElement[list[str]]:
    """SQL text[] of the missing field keys of a ``customers`` row, in catalogue order."""
    keys: list[ColumnElement[str]] = [
        case((missing_condition(s), literal(s.key, Text)), else_=null()) for s in specs
    ]
    return func.array_remove(array(keys), null())


def _ratio(filled: int, total: int) -> float:
    return 1.0 if total == 0 else filled / total


def _average_ratio(missing: int, shops: int, per_shop: int) -> float:
    """The mean over ``shops`` of (filled / per_shop), from the group's total missing."""
    return _ratio(shops * per_shop - missing, shops * per_shop)


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
    sums = [func.coalesce(func.sum(_missing_flag(s)), 0) for s in specs]
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
