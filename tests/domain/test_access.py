"""Rights by role x scope x owner department; scope filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import EDIT, PROPOSE, READ, customer_scope, field_right, get_customer_in_scope
from domain.access.rights import load_rights
from domain.catalogue import field
from domain.errors import DomainError
from domain.models import Customer, OrgUnit, User
from tests.domain.conftest import PrincipalFor


def _count(session: Session, where: object) -> int:
    return session.scalar(select(func.count(Customer.id)).where(where)) or 0  # type: ignore[arg-type]


def test_scope_own_team_county_city(city: Session, principal_for: PrincipalFor) -> None:
    total = _count(city, True)
    cm = principal_for("customer_manager")
    assert (
        _count(city, customer_scope(cm))
        == _count(city, Customer.customer_manager_id == cm.user_id)
        > 0
    )
    mm = principal_for("market_manager")
    team = select(User.id).where(User.org_unit_id == mm.org_unit_id).scalar_subquery()
    assert _count(city, customer_scope(mm)) == _count(city, Customer.customer_manager_id.in_(team))
    county = principal_for("county_dept")
    assert county.region_id is not None
    assert _count(city, customer_scope(county)) == _count(
        city, Customer.admin_region_id == county.region_id
    )
    assert _count(city, customer_scope(principal_for("market_dept"))) == total
    assert 0 < _count(city, customer_scope(cm)) <= _count(city, customer_scope(mm)) < total


def test_out_of_scope_customer_is_not_found(city: Session, principal_for: PrincipalFor) -> None:
    cm = principal_for("customer_manager")
    other = city.scalar(select(Customer.id).where(Customer.customer_manager_id != cm.user_id))
    assert other is not None
    with pytest.raises(DomainError) as err:
        get_customer_in_scope(city, cm, other)
    assert (err.value.code, err.value.field) == ("NOT_FOUND", "customerId")


def test_a_county_role_without_a_county_sees_nothing(
    city: Session, principal_for: PrincipalFor
) -> None:
    county = principal_for("county_dept")
    city_unit = city.scalar(select(OrgUnit.id).where(OrgUnit.kind == "city"))
    user = city.get(User, county.user_id)
    assert user is not None and city_unit is not None
    user.org_unit_id = city_unit
    city.flush()
    from domain.access import load_principal

    assert _count(city, customer_scope(load_principal(city, county.user_id))) == 0


@pytest.mark.parametrize(
    ("role", "key", "right"),
    [
        ("customer_manager", "contact_person", EDIT),  # owner: customer manager
        ("customer_manager", "phone", PROPOSE),  # owner: market dept, approval market manager
        ("customer_manager", "business_scale", READ),  # auto: never by hand
        ("market_manager", "satisfaction", EDIT),
        ("market_manager", "phone", PROPOSE),
        ("market_dept", "phone", EDIT),
        ("market_dept", "location", PROPOSE),  # owner: delivery dept
        ("delivery_dept", "location", EDIT),
        ("delivery_dept", "delivery_route", EDIT),
        ("licensing", "licence_no", EDIT),
        ("licensing", "credit_rating", READ),  # auto, through the rating procedure
        ("sales_dept", "total_limit", EDIT),
        ("county_dept", "address", PROPOSE),
        ("it_admin", "shop_name", PROPOSE),
        ("it_admin", "classification", READ),
    ],
)
def test_field_rights_follow_owner_and_maintenance(
    principal_for: PrincipalFor, role: str, key: str, right: str
) -> None:
    assert field_right(principal_for(role), field(key)) == right


def test_rights_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "rights.csv"
    bad.write_text("role,scope,edits,approves,reveals,proposes\nx,galaxy,,,,no\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"rights\.csv:2: unknown scope 'galaxy'"):
        load_rights(bad)
