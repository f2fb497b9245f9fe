"""Filtered customer lists: one query object for the admin list page, exports and the CLI.

``CustomerQuery`` holds the filters a user can set (all optional; all given ones must hold);
``customer_select`` turns it into a ``Select`` of ``Customer`` rows within the caller's scope
(``domain.access.customer_scope``), and ``count_customers`` counts them. Codes (county region,
market area, manager username, route) are matched through subqueries, so an unknown code finds
no shops rather than an error; values that can be checked without the database (status,
format, market type, scale, credit rating, sort) are refused with ``INVALID`` on their field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from domain.access import Principal, customer_scope
from domain.catalogue import catalogue, field
from domain.completeness import missing_condition
from domain.errors import INVALID, DomainError
from domain.models import Customer, DeliveryRoute, OrgUnit, Region, User

# The sort keys offered; "-" sorts descending. Ties are broken by id (stable pages).
SORTS: dict[str, tuple[Any, bool]] = {
    "code": (Customer.customer_code, False),
    "-code": (Customer.customer_code, True),
    "name": (Customer.shop_name, False),
    "-name": (Customer.shop_name, True),
    "joined_on": (Customer.joined_on, False),
    "-joined_on": (Customer.joined_on, True),
    "updated_at": (Customer.updated_at, False),
    "-updated_at": (Customer.updated_at, True),
}
MAX_SEARCH = 100


@dataclass(frozen=True)
class CustomerQuery:
    """The filters of a customer list; None (or False) means "any"."""

    search: str | None = None  # code, name, licence number, address (substring); exact phone
    county: str | None = None  # region code of the shop's district/county
    market_area: str | None = None  # org-unit code of the manager's market area
    manager: str | None = None  # the customer manager's username
    route: str | None = None  # delivery route code
    status: str | None = None
    business_format: str | None = None
    market_type: str | None = None
    business_scale: int | None = None
    credit_rating: str | None = None
    incomplete_only: bool = False
    sort: str = "code"

    def describe(self) -> dict[str, Any]:
        """The filters that are set, as plain JSON-able values (e.g. for an export log)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value is not False and value != "":
                out[f.name] = value
        return out


def _choice(key: str, value: str | None) -> str | None:
    """A catalogue enum value, refused when the catalogue does not list it."""
    if value is None or value == "":
        return None
    spec = field(key)
    if value not in spec.choice_codes:
        allowed = "、".join(f"{c.code}({c.label_zh})" for c in spec.choices)
        raise DomainError(INVALID, f"未知的{spec.label_zh}“{value}”，可选：{allowed}", key)
    return value


def _search(text: str) -> ColumnElement[bool]:
    text = text.strip()
    if len(text) > MAX_SEARCH:
        raise DomainError(INVALID, f"搜索内容不能超过 {MAX_SEARCH} 个字符", "search")
    c = Customer
    texts = (c.customer_code, c.shop_name, c.licence_no, c.address)
    return or_(*(t.contains(text, autoescape=True) for t in texts), c.phone == text)


def _incomplete() -> ColumnElement[bool]:
    specs = catalogue()
    return or_(*(missing_condition(s, specs) for s in specs))


def conditions(query: CustomerQuery) -> list[ColumnElement[bool]]:
    """The filter's conditions (without the scope); DomainError for a bad value."""
    c = Customer
    where: list[ColumnElement[bool]] = []
    if query.search is not None and query.search.strip():
        where.append(_search(query.search))
    for key in ("status", "business_format", "market_type", "credit_rating"):
        value = _choice(key, getattr(query, key))
        if value is not None:
            where.append(getattr(c, field(key).column) == value)
    if query.business_scale is not None:
        if query.business_scale not in (1, 2, 3):
            raise DomainError(INVALID, "经营规模须为 1、2 或 3", "business_scale")
        where.append(c.business_scale == query.business_scale)
    if query.county:
        region = select(Region.id).where(Region.code == query.county).scalar_subquery()
        where.append(c.admin_region_id == region)
    if query.market_area:
        team = (
            select(User.id)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(OrgUnit.code == query.market_area)
        )
        where.append(c.customer_manager_id.in_(team.scalar_subquery()))
    if query.manager:
        manager = select(User.id).where(User.username == query.manager).scalar_subquery()
        where.append(c.customer_manager_id == manager)
    if query.route:
        route = select(DeliveryRoute.id).where(DeliveryRoute.code == query.route)
        where.append(c.delivery_route_id == route.scalar_subquery())
    if query.incomplete_only:
        where.append(c.status != "closed")
        where.append(_incomplete())
    return where


def _order(sort: str) -> list[Any]:
    try:
        column, descending = SORTS[sort]
    except KeyError:
        allowed = "、".join(SORTS)
        raise DomainError(INVALID, f"未知的排序方式“{sort}”，可选：{allowed}", "sort") from None
    first = column.desc().nulls_last() if descending else column.asc().nulls_last()
    return [first, Customer.id.desc() if descending else Customer.id.asc()]


def customer_where(principal: Principal, query: CustomerQuery) -> list[ColumnElement[bool]]:
    """The caller's scope and the query's conditions."""
    return [customer_scope(principal), *conditions(query)]


def customer_select(principal: Principal, query: CustomerQuery) -> Select[Customer]:
    """``Customer`` rows in the caller's scope matching ``query``, in its sort order."""
    order = _order(query.sort)
    return select(Customer).where(*customer_where(principal, query)).order_by(*order)


def count_customers(session: Session, principal: Principal, query: CustomerQuery) -> int:
    """How many customers ``customer_select`` would give."""
    _order(query.sort)  # the same refusals as customer_select
    stmt = select(func.count()).select_from(Customer).where(*customer_where(principal, query))
    return int(session.scalar(stmt) or 0)


__all__ = [
    "SORTS",
    "CustomerQuery",
    "conditions",
    "count_customers",
    "customer_select",
    "customer_where",
]
