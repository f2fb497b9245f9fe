"""Scope rules as SQL: which customers a principal sees and acts on.

A customer manager: own shops; a market manager: the shops of the team's managers; a
county department: the shops located in its county; city departments: all.
Out-of-scope records are reported as not found, so their existence is not disclosed.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from domain.access.principal import Principal
from domain.access.rights import role_rights
from domain.errors import NOT_FOUND, DomainError
from domain.models import Customer, User


def customer_scope(principal: Principal) -> ColumnElement[bool]:
    scope = role_rights(principal.role).scope
    if scope == "city":
        return true()
    if scope == "own":
        return Customer.customer_manager_id == principal.user_id
    if scope == "team":
        team = select(User.id).where(User.org_unit_id == principal.org_unit_id)
        return Customer.customer_manager_id.in_(team.scalar_subquery())
    if principal.region_id is None:  # a county role without a county: sees nothing
        return false()
    return Customer.admin_region_id == principal.region_id


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
