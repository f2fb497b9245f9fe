"""The export log (导出记录): every export of customer data, who, what filter, how many rows.

Archive rules require every read of personal data by export to be logged; the row also
names the personal fields that came out unmasked (the role's reveal grants), if any.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, utcnow_column

EXPORT_FORMATS = ("xlsx", "csv")


class ExportLog(Base):
    __tablename__ = "export_logs"
    __table_args__ = (
        CheckConstraint("format IN ('xlsx', 'csv')", name="format_known"),
        CheckConstraint("row_count >= 0", name="row_count_nonnegative"),
        Index("ix_export_logs_user_id_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = utcnow_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # What was exported: "customers" (the filtered list); room for other lists later.
    kind: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    # The filter as given (CustomerQuery.describe()): only the conditions that were set.
    filter: Mapped[dict[str, Any]] = mapped_column(JSONB)
    row_count: Mapped[int] = mapped_column(Integer)
    # Catalogue keys of personal fields exported unmasked (empty: all masked).
    revealed: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    file_name: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
