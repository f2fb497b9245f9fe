"""The caller of a service: a user with a role and a scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.errors import FORBIDDEN, NOT_FOUND, DomainError
from domain.models import OrgUnit, User


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    org_unit_id: int
    # The county region of a county-scoped user; None for other scopes.
    region_id: int | None = None
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)


def load_principal(
    session: Session, user_id: int, request_id: uuid.UUID | None = None
) -> Principal:
    """The principal of an active user (NOT_FOUND / FORBIDDEN otherwise)."""
    row = session.execute(
        select(User, OrgUnit)
        .join(OrgUnit, User.org_unit_id == OrgUnit.id)
        .where(User.id == user_id)
    ).one_or_none()
    if row is None:
        raise DomainError(NOT_FOUND, "找不到该用户", "user")
    user, unit = row
    if not user.is_active:
        raise DomainError(FORBIDDEN, "该用户已停用", "user")
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        org_unit_id=unit.id,
        region_id=unit.region_id if unit.kind == "county" else None,
        request_id=request_id or uuid.uuid4(),
    )
