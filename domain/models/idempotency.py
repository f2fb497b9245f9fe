"""Idempotency keys: the first response to a keyed mutation, replayed for a retry."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, utcnow_column


class IdempotencyKey(Base):
    """One keyed request of a user: what it asked (a hash) and what it was answered.

    The response is the exact JSON text sent, so that a replay is byte-identical.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    operation: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = utcnow_column()
