"""Users and API tokens: creation, listing, revocation, lookup of a bearer token; the
tokens a signed-in user manages (its own; every user's for it_admin)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from domain.access.principal import Principal
from domain.errors import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NO_CHANGE,
    NOT_FOUND,
    OUT_OF_RANGE,
    REQUIRED,
    DomainError,
    ValidationFailed,
)
from domain.models import ApiToken, OrgUnit, User
from domain.models.org import ROLE_LABELS_ZH, ROLES
from domain.passwords import hash_password, new_token_secret, token_digest

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")
MIN_PASSWORD = 10
# `last_used_at` is written at most this often per token (one UPDATE, not one per request).
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)
TOKEN_DAYS = (1, 366)


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
    if not TOKEN_DAYS[0] <= days <= TOKEN_DAYS[1]:
        raise DomainError(INVALID, f"有效期须为 {TOKEN_DAYS[0]} 到 {TOKEN_DAYS[1]} 天", "days")
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
    return _revoke(session, found[0].id, now)


def _revoke(session: Session, token_id: int, now: dt.datetime | None) -> TokenRow:
    """Revoke the token of this id unless it is revoked already; its row after."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or dt.datetime.now(dt.UTC))
        .execution_options(synchronize_session=False)
    )
    return _token_rows(session, ApiToken.id == token_id)[0]


# -- tokens as a signed-in user manages them (the admin's 访问令牌 screen) -------------------

MAX_TOKEN_NAME = 60


@dataclass(frozen=True)
class NewToken:
    """A token just created: its secret, to be shown once and never stored, and its row."""

    secret: str
    row: TokenRow


def manages_all_tokens(principal: Principal) -> bool:
    """The information department (it_admin) manages every user's tokens; any other role
    manages its own only."""
    return principal.role == "it_admin"


def _own_tokens(principal: Principal) -> tuple[ColumnElement[bool], ...]:
    return () if manages_all_tokens(principal) else (ApiToken.user_id == principal.user_id,)


def tokens_for(session: Session, principal: Principal) -> list[TokenRow]:
    """The tokens the principal manages, newest first, revoked and expired ones included."""
    return _token_rows(session, *_own_tokens(principal))[::-1]


def token_owners(session: Session, principal: Principal) -> list[UserRow]:
    """The users the principal may create a token for: every active user for it_admin,
    else only the principal."""
    rows = [u for u in list_users(session) if u.is_active]
    if manages_all_tokens(principal):
        return rows
    return [u for u in rows if u.username == principal.username]


def _token_request_errors(
    session: Session, principal: Principal, username: str, name: str, days: int
) -> list[DomainError]:
    errors: list[DomainError] = []
    if not name:
        errors.append(DomainError(REQUIRED, "请填写令牌名称", "name"))
    elif len(name) > MAX_TOKEN_NAME:
        errors.append(DomainError(INVALID, f"令牌名称不能超过 {MAX_TOKEN_NAME} 个字符", "name"))
    elif not name.isprintable():
        errors.append(DomainError(INVALID, "令牌名称不能含有控制字符或换行", "name"))
    if not TOKEN_DAYS[0] <= days <= TOKEN_DAYS[1]:
        low, high = TOKEN_DAYS
        errors.append(DomainError(OUT_OF_RANGE, f"有效期须为 {low} 到 {high} 天", "days"))
    if username != principal.username and not manages_all_tokens(principal):
        errors.append(DomainError(FORBIDDEN, "只能为自己创建令牌", "user"))
        return errors
    active = session.scalar(select(User.is_active).where(User.username == username))
    if active is None:
        errors.append(DomainError(NOT_FOUND, f"找不到用户 {username}", "user"))
    elif not active:
        errors.append(DomainError(INVALID, f"用户 {username} 已停用", "user"))
    return errors


def create_token_as(
    session: Session,
    principal: Principal,
    *,
    name: str,
    days: int,
    username: str | None = None,
    now: dt.datetime | None = None,
) -> NewToken:
    """A token for ``username`` (default: the principal) created by the principal: its own,
    or anyone's for it_admin. Every field error at once (ValidationFailed); nothing is
    created on a refusal."""
    username = username or principal.username
    name = name.strip()
    errors = _token_request_errors(session, principal, username, name, days)
    if errors:
        raise ValidationFailed(errors)
    secret = create_token(session, username=username, days=days, name=name, now=now)
    return NewToken(secret, _token_rows(session, ApiToken.token_hash == token_digest(secret))[0])


def revoke_token_as(
    session: Session, principal: Principal, token_id: int, *, now: dt.datetime | None = None
) -> TokenRow:
    """Revoke a token the principal manages. Another user's token is not found for a role
    other than it_admin (its existence is not disclosed); a token already revoked is
    NO_CHANGE and keeps its revocation time."""
    found = _token_rows(session, ApiToken.id == token_id, *_own_tokens(principal))
    if not found:
        raise DomainError(NOT_FOUND, "找不到该令牌", "token")
    if found[0].revoked_at is not None:
        raise DomainError(NO_CHANGE, f"令牌 {found[0].prefix} 已吊销，无需再次吊销", "token")
    return _revoke(session, token_id, now)
