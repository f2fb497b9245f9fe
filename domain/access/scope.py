"""Scope rules as SQL: which customers a principal sees and acts on.

A customer manager: own shops; a market manager: the shops of the team's managers; a
county department: the shops located in its county; city departments: all.
Out-of-scope records are reported as not found, so their existence is not disclosed.
"""

from __future__ import annotations

from sqlalchemy import BindParameter, ColumnElement, bindparam, false, select, true
from sqlalchemy.orm import Session

from domain.access.principal import Principal
from domain.access.rights import role_rights
from domain.errors import NOT_FOUND, DomainError
from domain.models import Customer, User


def scope_values(principal: Principal) -> tuple[str, dict[str, int]]:
    """The form of the principal's scope and its values by bind name: a statement built
    for one form serves every principal of that form (``scope_condition``)."""
    scope = role_rights(principal.role).scope
    if scope == "city":
        return "city", {}
    if scope == "own":
        return "own", {"scope_user_id": principal.user_id}
    if scope == "team":
        return "team", {"scope_unit_id": principal.org_unit_id}
    if principal.region_id is None:  # a county role without a county: sees nothing
        return "nothing", {}
    return "county", {"scope_region_id": principal.region_id}


def scope_condition(form: str, values: dict[str, int]) -> ColumnElement[bool]:
    """The customers of a scope, its values as bind parameters named as in
    ``scope_values`` (one principal's scope per statement)."""
    c = Customer.__table__.c
    if form == "city":
        return true()
    if form == "own":
        return c.customer_manager_id == bindparam("scope_user_id", values["scope_user_id"])
    if form == "team":
        unit: BindParameter[int] = bindparam("scope_unit_id", values["scope_unit_id"])
        team = select(User.id).where(User.org_unit_id == unit)
        return c.customer_manager_id.in_(team.scalar_subquery())
    if form == "county":
        return c.admin_region_id == bindparam("scope_region_id", values["scope_region_id"])
    return false()


def customer_scope(principal: Principal) -> ColumnElement[bool]:
    return scope_condition(*scope_values(principal))


def get_customer_in_scope(
    session: Session, principal: Principal, customer_id: int, *, for_update: bool = False
) -> Customer:
    stmt = select(Customer).where(Customer.id == customer_id, customer_scope(principal))
    if for_update:
        stmt = stmt.with_for_update()
    customer = session.scalar(stmt)
    if customer is None:
        raise DomainError(NOT_FOUND, "找不到该客户，或不在您的管辖范围内", "customerId")
    return customer
