"""Admin sign-in: lockout and throttling of failed attempts, server-side sessions.

The browser's cookie holds a random session id; the table keeps only its SHA-256, the
user, a CSRF token and the times. A session ends after ``IDLE`` without a request, after
``ABSOLUTE`` in any case, or at sign-out. Password hashes are checked by the caller (off
the event loop); this module decides whether an attempt may be made and records it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.errors import DomainError
from domain.models import AdminSession, SignInAttempt, User

IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
# `last_seen_at` is written at most this often per session (not on every request).
TOUCH_EVERY = dt.timedelta(seconds=60)
# A username is locked after LOCK_FAILURES failures within LOCK_WINDOW, until LOCK_WINDOW
# after the last of them; an address after IP_FAILURES failures (any usernames).
LOCK_FAILURES = 5
IP_FAILURES = 30
LOCK_WINDOW = dt.timedelta(minutes=15)
# Attempts older than this are deleted when new ones are recorded.
KEEP_ATTEMPTS = dt.timedelta(days=90)

LOCKED = "LOCKED"
BAD_CREDENTIALS = "BAD_CREDENTIALS"


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Lockout:
    until: dt.datetime
    reason: str  # "user" or "ip"


def lockout(session: Session, *, username: str, ip: str | None, now: dt.datetime) -> Lockout | None:
    """Whether a sign-in attempt for ``username`` from ``ip`` must be refused now."""
    since = now - LOCK_WINDOW
    failed = and_(SignInAttempt.succeeded.is_(False), SignInAttempt.at > since)
    count, last = session.execute(
        select(func.count(), func.max(SignInAttempt.at)).where(
            failed, SignInAttempt.username == username
        )
    ).one()
    if count >= LOCK_FAILURES and last is not None:
        return Lockout(last + LOCK_WINDOW, "user")
    if ip is not None:
        count, last = session.execute(
            select(func.count(), func.max(SignInAttempt.at)).where(failed, SignInAttempt.ip == ip)
        ).one()
        if count >= IP_FAILURES and last is not None:
            return Lockout(last + LOCK_WINDOW, "ip")
    return None


def locked_error(lock: Lockout, now: dt.datetime) -> DomainError:
    minutes = max(1, int((lock.until - now).total_seconds() // 60) + 1)
    who = "该账号" if lock.reason == "user" else "该地址"
    return DomainError(
        LOCKED, f"{who}登录失败次数过多，已暂时锁定，请约 {minutes} 分钟后再试", "username"
    )


def record_attempt(
    session: Session, *, username: str, ip: str | None, succeeded: bool, now: dt.datetime
) -> None:
    session.add(SignInAttempt(username=username[:64], ip=ip, succeeded=succeeded, at=now))
    if succeeded:  # a successful sign-in clears the user's failure count
        session.execute(
            delete(SignInAttempt).where(
                SignInAttempt.username == username, SignInAttempt.succeeded.is_(False)
            )
        )
    session.execute(delete(SignInAttempt).where(SignInAttempt.at < now - KEEP_ATTEMPTS))


def user_for_sign_in(session: Session, username: str) -> User | None:
    """The active user who may sign in with a password, else None."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active or not user.password_hash:
        return None
    return user


@dataclass(frozen=True)
class SessionInfo:
    session_id: str  # the cookie value (shown to the browser only)
    user_id: int
    csrf_token: str
    expires_at: dt.datetime


def start_session(
    session: Session,
    *,
    user_id: int,
    ip: str | None,
    user_agent: str | None,
    now: dt.datetime,
    replaces: str | None = None,
) -> SessionInfo:
    """A new session (always a new id: a session id chosen before sign-in is never kept)."""
    if replaces:
        end_session(session, replaces, now=now)
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + ABSOLUTE
    session.add(
        AdminSession(
            id_hash=_digest(session_id), user_id=user_id, csrf_token=csrf, created_at=now,
            last_seen_at=now, expires_at=expires, ip=ip, user_agent=(user_agent or "")[:300],
        )
    )  # fmt: skip
    session.flush()
    return SessionInfo(session_id, user_id, csrf, expires)


def current_session(
    session: Session, session_id: str, *, now: dt.datetime, touch: bool = True
) -> SessionInfo | None:
    """The live session behind a cookie value (None: unknown, ended, idle or expired, or
    its user deactivated); with ``touch``, records the activity at most once per
    ``TOUCH_EVERY`` (a read-only caller, such as a GraphQL query, leaves it)."""
    row = session.execute(
        select(AdminSession)
        .join(User, User.id == AdminSession.user_id)
        .where(
            AdminSession.id_hash == _digest(session_id),
            AdminSession.revoked_at.is_(None),
            AdminSession.expires_at > now,
            AdminSession.last_seen_at > now - IDLE,
            User.is_active.is_(True),
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    if touch and now - row.last_seen_at >= TOUCH_EVERY:
        session.execute(
            update(AdminSession)
            .where(AdminSession.id_hash == row.id_hash)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    return SessionInfo(session_id, row.user_id, row.csrf_token, row.expires_at)


SESSION_ENDED, CSRF_MISSING = "ended", "csrf"


def session_principal(
    session: Session,
    session_id: str,
    csrf: str | None,
    *,
    now: dt.datetime,
    request_id: uuid.UUID | None = None,
) -> tuple[Principal | None, str | None]:
    """The admin user of a live session called with its CSRF token (a page of the admin
    has it; another site's page cannot know it), outside the admin's own pages (GraphQL
    over POST, a subscription's socket): (principal, None), or (None, why not):
    ``SESSION_ENDED`` or ``CSRF_MISSING``. Read only: the session is not touched."""
    info = current_session(session, session_id, now=now, touch=False)
    if info is None:
        return None, SESSION_ENDED
    if csrf is None or not secrets.compare_digest(csrf, info.csrf_token):
        return None, CSRF_MISSING
    try:
        return load_principal(session, info.user_id, request_id), None
    except DomainError:  # deactivated meanwhile
        return None, SESSION_ENDED


def end_session(session: Session, session_id: str, *, now: dt.datetime) -> None:
    session.execute(
        update(AdminSession)
        .where(AdminSession.id_hash == _digest(session_id), AdminSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def end_user_sessions(session: Session, user_id: int, *, now: dt.datetime) -> int:
    """Sign a user out everywhere (e.g. after deactivation or a password change)."""
    result = session.execute(
        update(AdminSession)
        .where(AdminSession.user_id == user_id, AdminSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
