"""The customer archive (客户档案): the list with search, filters, sort and pages, updated in
place by htmx (the results block), over ``domain.customers.listing`` (scoped by role).

One page query (the shops with their manager's name and route code joined in) and one count;
completeness is computed on the page's rows. The detail screens are in ``customer_detail``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.views import customer_detail
from admin.views.customer_values import Option
from admin.web import PREFIX, config, db, field_errors, is_htmx, now, principal, render, view
from domain.access import Principal, role_rights
from domain.catalogue import field
from domain.completeness import customer_completeness
from domain.customers.listing import CustomerQuery, count_customers, customer_select
from domain.errors import DomainError
from domain.models import Customer, DeliveryRoute, OrgUnit, Region, User
from domain.workcal import WorkingCalendar

PAGE_SIZE = 50
# The list's query-string parameters (also what the export passes through).
FILTER_PARAMS = (
    "q", "county", "market_area", "manager", "route", "status", "business_format",
    "incomplete", "sort",
)  # fmt: skip
SORT_LABELS = {
    "code": "客户代码 ↑", "-code": "客户代码 ↓", "name": "店铺名称 ↑", "-name": "店铺名称 ↓",
    "joined_on": "入网日期 ↑", "-joined_on": "入网日期 ↓",
    "updated_at": "更新时间 ↑", "-updated_at": "更新时间 ↓",
}  # fmt: skip


def _text(params: Mapping[str, Any], key: str) -> str | None:
    value = str(params.get(key) or "").strip()
    return value or None


def query_from(params: Mapping[str, Any]) -> CustomerQuery:
    """The list's filters from a query string or form (unknown values are refused by the
    domain with an error on their field)."""
    return CustomerQuery(
        search=_text(params, "q"),
        county=_text(params, "county"),
        market_area=_text(params, "market_area"),
        manager=_text(params, "manager"),
        route=_text(params, "route"),
        status=_text(params, "status"),
        business_format=_text(params, "business_format"),
        incomplete_only=str(params.get("incomplete") or "") in ("1", "on", "true"),
        sort=_text(params, "sort") or "code",
    )


def filter_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The set filters as query-string pairs (for links: pages, sort, export)."""
    return {k: str(params[k]).strip() for k in FILTER_PARAMS if str(params.get(k) or "").strip()}


@dataclass(frozen=True)
class FilterOptions:
    counties: list[Option]
    market_areas: list[Option]
    managers: list[Option]
    routes: list[Option]
    statuses: list[Option]
    formats: list[Option]
    sorts: list[Option]


def _units_in_scope(principal: Principal) -> Any:
    """Org units whose managers the principal's scope covers (None: all)."""
    scope = role_rights(principal.role).scope
    if scope in ("own", "team"):
        return select(OrgUnit.id).where(OrgUnit.id == principal.org_unit_id)
    if scope == "county":
        return select(OrgUnit.id).where(OrgUnit.parent_id == principal.org_unit_id)
    return None


def filter_options(session: Session, principal: Principal) -> FilterOptions:
    scope = role_rights(principal.role).scope
    regions = select(Region.code, Region.name).order_by(Region.code)
    if scope == "county":
        regions = regions.where(Region.id == principal.region_id)
    units = _units_in_scope(principal)
    areas = select(OrgUnit.code, OrgUnit.name).where(OrgUnit.kind == "market_area")
    managers = select(User.username, User.display_name).where(User.role == "customer_manager")
    if scope == "own":
        managers = managers.where(User.id == principal.user_id)
    elif units is not None:
        managers = managers.where(User.org_unit_id.in_(units))
        areas = areas.where(OrgUnit.id.in_(units))
    routes = select(DeliveryRoute.code, DeliveryRoute.name).where(DeliveryRoute.is_active)

    def options(stmt: Any) -> list[Option]:
        return [Option(code, f"{name}（{code}）") for code, name in session.execute(stmt)]

    return FilterOptions(
        counties=options(regions),
        market_areas=options(areas.order_by(OrgUnit.code)),
        managers=[
            Option(u, f"{n}（{u}）") for u, n in session.execute(managers.order_by(User.username))
        ],
        routes=options(routes.order_by(DeliveryRoute.code)),
        statuses=[Option(c.code, c.label_zh) for c in field("status").choices],
        formats=[Option(c.code, c.label_zh) for c in field("business_format").choices],
        sorts=[Option(k, v) for k, v in SORT_LABELS.items()],
    )


@dataclass(frozen=True)
class ListRow:
    code: str
    shop_name: str
    manager: str
    route: str
    status: str
    ratio: float
    missing: int
    overdue: bool


def page_rows(
    session: Session, principal: Principal, query: CustomerQuery, page: int, *,
    today: dt.date, calendar: WorkingCalendar,
) -> list[ListRow]:  # fmt: skip
    manager, route = aliased(User), aliased(DeliveryRoute)
    stmt = (
        customer_select(principal, query)
        .add_columns(manager.display_name, route.code)
        .outerjoin(manager, manager.id == Customer.customer_manager_id)
        .outerjoin(route, route.id == Customer.delivery_route_id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    statuses = {c.code: c.label_zh for c in field("status").choices}
    rows = []
    for customer, manager_name, route_code in session.execute(stmt):
        c = customer_completeness(customer, calendar=calendar, today=today)
        rows.append(
            ListRow(
                code=customer.customer_code, shop_name=customer.shop_name,
                manager=manager_name or "", route=route_code or "",
                status=statuses.get(customer.status, customer.status),
                ratio=c.ratio, missing=len(c.missing), overdue=c.overdue,
            )
        )  # fmt: skip
    return rows


def _page(params: Mapping[str, Any]) -> int:
    raw = str(params.get("page") or "1")
    return max(1, min(int(raw), 1_000_000)) if raw.isdigit() else 1


def link(path: str, params: Mapping[str, str], **changes: Any) -> str:
    merged = {**params, **{k: str(v) for k, v in changes.items() if v not in (None, "")}}
    for k, v in changes.items():
        if v in (None, ""):
            merged.pop(k, None)
    return f"{path}?{urlencode(merged)}" if merged else path


@view
def customer_list(request: Request) -> Response:
    who = principal(request)
    params = request.query_params
    query = query_from(params)
    page = _page(params)
    calendar = config(request).calendar
    today = now(request).astimezone(calendar.tz).date()
    errors: dict[str, list[str]] = {}
    rows: list[ListRow] = []
    total = 0
    with db(request) as session:
        options = filter_options(session, who)
        try:
            total = count_customers(session, who, query)
            rows = page_rows(session, who, query, page, today=today, calendar=calendar)
        except DomainError as err:
            errors = field_errors(err)
    kept = filter_params(params)
    ctx = {
        "rows": rows, "total": total, "page": page, "errors": errors, "filters": kept,
        "pages": max(1, math.ceil(total / PAGE_SIZE)), "page_size": PAGE_SIZE,
        "options": options, "query": query, "link": link, "base": PREFIX + "/customers",
    }  # fmt: skip
    partial = is_htmx(request) and not request.headers.get("hx-history-restore-request")
    if partial and request.headers.get("hx-target") == "results":
        return render(request, "customers/list.html", ctx, block="results")
    return render(request, "customers/list.html", ctx)


ROUTES: list[BaseRoute] = [
    Route("/customers", customer_list),
    *customer_detail.ROUTES,
]
