"""Users and API tokens: creation, listing, lookup of a bearer token."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.errors import DUPLICATE, INVALID, NOT_FOUND, DomainError
from domain.models import ApiToken, OrgUnit, User
from domain.models.org import ROLE_LABELS_ZH, ROLES
from domain.passwords import hash_password, new_token_secret, token_digest

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class UserRow:
    username: str
    display_name: str
    role: str
    role_zh: str
    scope_code: str
    scope_name: str
    is_active: bool


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    scope_code: str,
    password: str,
) -> User:
    if not USERNAME_RE.match(username):
        raise DomainError(INVALID, "用户名须为3-32位小写字母、数字或 _ . -，以字母开头", "username")
    if role not in ROLES:
        raise DomainError(INVALID, f"未知角色 {role!r}，可选：{', '.join(ROLES)}", "role")
    if len(password) < MIN_PASSWORD:
        raise DomainError(INVALID, f"密码至少 {MIN_PASSWORD} 位", "password")
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == scope_code))
    if unit is None:
        raise DomainError(NOT_FOUND, f"找不到组织单元 {scope_code!r}", "scope")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise DomainError(DUPLICATE, f"用户名 {username!r} 已存在", "username")
    user = User(
        username=username,
        display_name=display_name,
        role=role,
        org_unit_id=unit.id,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[UserRow]:
    rows = session.execute(
        select(User, OrgUnit).join(OrgUnit, User.org_unit_id == OrgUnit.id).order_by(User.username)
    )
    return [
        UserRow(
            u.username, u.display_name, u.role, ROLE_LABELS_ZH[u.role], o.code, o.name, u.is_active
        )
        for u, o in rows
    ]


def create_token(
    session: Session,
    *,
    username: str,
    days: int = 90,
    name: str = "app",
    now: dt.datetime | None = None,
) -> str:
    """Create a bearer token for an app acting as the user; returns the secret (shown once)."""
    if not 1 <= days <= 366:
        raise DomainError(INVALID, "有效期须为 1 到 366 天", "days")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise DomainError(NOT_FOUND, f"找不到用户 {username!r}", "user")
    if not user.is_active:
        raise DomainError(INVALID, f"用户 {username!r} 已停用", "user")
    now = now or dt.datetime.now(dt.UTC)
    secret = new_token_secret()
    session.add(
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=token_digest(secret),
            prefix=secret[:10],
            expires_at=now + dt.timedelta(days=days),
        )
    )
    session.flush()
    return secret


def user_for_token(session: Session, secret: str, now: dt.datetime | None = None) -> User | None:
    """The active user behind a valid, unexpired, unrevoked token, else None."""
    now = now or dt.datetime.now(dt.UTC)
    return session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == token_digest(secret),
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > now,
            User.is_active.is_(True),
        )
    )
