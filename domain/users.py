"""Users and API tokens: creation, listing, revocation, lookup of a bearer token."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from domain.errors import DUPLICATE, INVALID, NOT_FOUND, DomainError
from domain.models import ApiToken, OrgUnit, User
from domain.models.org import ROLE_LABELS_ZH, ROLES
from domain.passwords import hash_password, new_token_secret, token_digest

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")
MIN_PASSWORD = 10
# `last_used_at` is written at most this often per token (one UPDATE, not one per request).
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


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
    """The active user behind a valid, unexpired, unrevoked token, else None.

    The same statement records the use (`last_used_at`) at most once per
    `LAST_USED_GRANULARITY`, skipping a token row another transaction holds rather than
    waiting for it: no extra round trip, and no write at all on most requests.
    """
    now = now or dt.datetime.now(dt.UTC)
    valid = (
        ApiToken.token_hash == token_digest(secret),
        ApiToken.revoked_at.is_(None),
        ApiToken.expires_at > now,
        User.is_active.is_(True),
    )
    last = ApiToken.last_used_at
    due = (
        select(ApiToken.id)
        .join(User, User.id == ApiToken.user_id)
        .where(*valid, or_(last.is_(None), last <= now - LAST_USED_GRANULARITY))
        .with_for_update(of=ApiToken, skip_locked=True)
    )
    touch = (
        update(ApiToken)
        .where(ApiToken.id.in_(due.scalar_subquery()))
        .values(last_used_at=now)
        .cte("touch_api_token")
    )
    query = select(User).join(ApiToken, ApiToken.user_id == User.id).where(*valid).add_cte(touch)
    return session.scalar(query)


@dataclass(frozen=True)
class TokenRow:
    """A token as shown to operators: never its secret or hash, only the prefix."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def status(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


def _token_rows(session: Session, *where: ColumnElement[bool]) -> list[TokenRow]:
    rows = session.execute(
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .where(*where)
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    fields = ("id", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")
    return [
        TokenRow(username=username, **{f: getattr(t, f) for f in fields}) for t, username in rows
    ]


def list_tokens(session: Session, username: str) -> list[TokenRow]:
    """A user's tokens, oldest first, revoked and expired ones included."""
    if session.scalar(select(User.id).where(User.username == username)) is None:
        raise DomainError(NOT_FOUND, f"找不到用户 {username!r}", "user")
    return _token_rows(session, User.username == username)


def revoke_token(
    session: Session,
    *,
    token_id: int | None = None,
    prefix: str | None = None,
    by_user: str | None = None,
    now: dt.datetime | None = None,
) -> TokenRow:
    """Revoke one token, named by id or by its prefix (as `list_tokens` shows it).

    ``by_user`` restricts the match to that user's tokens. Revoking a revoked token leaves
    its revocation time as it was. The token is refused from the next request on.
    """
    if (token_id is None) == (prefix is None):
        raise DomainError(INVALID, "须指定令牌编号或前缀之一", "token")
    where: list[ColumnElement[bool]] = [
        ApiToken.id == token_id if token_id is not None else ApiToken.prefix == prefix
    ]
    if by_user is not None:
        where.append(User.username == by_user)
    found = _token_rows(session, *where)
    label = prefix if prefix is not None else f"#{token_id}"
    if not found:
        raise DomainError(NOT_FOUND, f"找不到令牌 {label}", "token")
    if len(found) > 1:
        raise DomainError(
            INVALID, f"前缀 {label} 对应多个令牌，请用 --user 或令牌编号区分", "token"
        )
    now = now or dt.datetime.now(dt.UTC)
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == found[0].id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return _token_rows(session, ApiToken.id == found[0].id)[0]
