"""The shared customer-list query: filters, scope, sort and refusals (the 300-shop demo city)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.customers.listing import CustomerQuery, count_customers, customer_select
from domain.errors import INVALID, DomainError
from domain.models import Customer, DeliveryRoute, OrgUnit, Region, User
from tests.domain.conftest import PrincipalFor


def _codes(session: Session, principal: Principal, query: CustomerQuery) -> list[str]:
    return [c.customer_code for c in session.scalars(customer_select(principal, query))]


def test_city_role_sees_all_in_code_order(city: Session, principal_for: PrincipalFor) -> None:
    # given a city-level role
    p = principal_for("market_dept")
    # when listing without filters
    codes = _codes(city, p, CustomerQuery())
    # then every shop, in code order, and the count agrees
    everything = city.scalars(select(Customer.customer_code).order_by(Customer.customer_code))
    assert codes == list(everything)
    assert count_customers(city, p, CustomerQuery()) == len(codes)


def test_county_user_is_scoped(city: Session, principal_for: PrincipalFor) -> None:
    p = principal_for("county_dept")
    region_ids = {c.admin_region_id for c in city.scalars(customer_select(p, CustomerQuery()))}
    assert region_ids == {p.region_id}


def test_filters_by_codes(city: Session, principal_for: PrincipalFor) -> None:
    p = principal_for("market_dept")
    shop = city.scalars(
        select(Customer).where(Customer.delivery_route_id.is_not(None)).order_by(Customer.id)
    ).first()
    assert shop is not None
    region = city.get(Region, shop.admin_region_id)
    route = city.get(DeliveryRoute, shop.delivery_route_id)
    manager = city.get(User, shop.customer_manager_id)
    assert region and route and manager
    area = city.get(OrgUnit, manager.org_unit_id)
    assert area is not None
    q = CustomerQuery(
        county=region.code, route=route.code, manager=manager.username, market_area=area.code
    )
    rows = list(city.scalars(customer_select(p, q)))
    expected = city.scalars(
        select(Customer.id).where(
            Customer.admin_region_id == region.id,
            Customer.delivery_route_id == route.id,
            Customer.customer_manager_id == manager.id,
        )
    ).all()
    assert sorted(r.id for r in rows) == sorted(expected)
    assert shop.id in {r.id for r in rows}
    assert _codes(city, p, CustomerQuery(county="no-such-county")) == []


def test_search_matches_code_name_and_exact_phone(
    city: Session, principal_for: PrincipalFor
) -> None:
    p = principal_for("market_dept")
    shop = city.scalars(select(Customer).where(Customer.phone.is_not(None))).first()
    assert shop is not None and shop.phone
    assert shop.customer_code in _codes(city, p, CustomerQuery(search=shop.customer_code[-6:]))
    assert shop.customer_code in _codes(city, p, CustomerQuery(search=shop.shop_name))
    assert _codes(city, p, CustomerQuery(search=shop.phone)) == [shop.customer_code]
    # a LIKE wildcard is a plain character, not "anything"
    assert _codes(city, p, CustomerQuery(search="%")) == []


def test_status_and_sort(city: Session, principal_for: PrincipalFor) -> None:
    p = principal_for("market_dept")
    codes = _codes(city, p, CustomerQuery(status="closed", sort="-code"))
    expected = city.scalars(
        select(Customer.customer_code)
        .where(Customer.status == "closed")
        .order_by(Customer.customer_code.desc())
    ).all()
    assert codes == list(expected) and codes


def test_incomplete_only(city: Session, principal_for: PrincipalFor) -> None:
    p = principal_for("market_dept")
    n = count_customers(city, p, CustomerQuery(incomplete_only=True))
    total_open = city.scalar(
        select(func.count()).select_from(Customer).where(Customer.status != "closed")
    )
    assert 0 < n < (total_open or 0)


@pytest.mark.parametrize(
    ("query", "field", "message_start"),
    [
        (CustomerQuery(sort="price"), "sort", "未知的排序方式“price”"),
        (CustomerQuery(status="open"), "status", "未知的客户状态“open”"),
        (CustomerQuery(business_format="百货"), "business_format", "未知的零售业态“百货”"),
        (CustomerQuery(business_scale=4), "business_scale", "经营规模须为 1、2 或 3"),
        (CustomerQuery(search="x" * 101), "search", "搜索内容不能超过 100 个字符"),
    ],
)
def test_refusals(
    city: Session, principal_for: PrincipalFor, query: CustomerQuery, field: str, message_start: str
) -> None:
    p = principal_for("market_dept")
    with pytest.raises(DomainError) as err:
        count_customers(city, p, query)
    assert (err.value.code, err.value.field) == (INVALID, field)
    assert err.value.message.startswith(message_start)


def test_describe_keeps_only_set_filters() -> None:
    q = CustomerQuery(search="便利", county="610102", incomplete_only=True)
    assert q.describe() == {
        "search": "便利",
        "county": "610102",
        "incomplete_only": True,
        "sort": "code",
    }
