"""Admin sign-in: server-side session rows and the sign-in attempts behind the lockout."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, utcnow_column


class AdminSession(Base):
    """One signed-in browser; the cookie holds a random id, the row only its SHA-256."""

    __tablename__ = "admin_sessions"
    __table_args__ = (
        CheckConstraint("id_hash ~ '^[0-9a-f]{64}$'", name="id_hash_hex"),
        Index("ix_admin_sessions_user_id", "user_id"),
    )

    id_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = utcnow_column()
    last_seen_at: Mapped[dt.datetime] = utcnow_column()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)


class SignInAttempt(Base):
    """Every sign-in try, successful or not (no password is ever stored)."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_username_at", "username", "at"),
        Index("ix_sign_in_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = utcnow_column()
