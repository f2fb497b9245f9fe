"""Bulk imports (导入批次): one row per import of a file, whatever became of it.

The row is committed as ``running`` before the data is loaded, so an operator (or a test)
sees an import in progress; the load itself is one transaction that ends by marking the row
``done``. A killed import therefore leaves only this row, still ``running`` and no longer
locked: the next import of the same file marks it ``interrupted`` and starts afresh. The
file's sha256 makes a second import of the same customer file a refused duplicate.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, pg_enum, utcnow_column

IMPORT_KINDS = ("customers", "purchases")
IMPORT_STATUSES = ("running", "done", "interrupted")


class Import(Base):
    __tablename__ = "imports"
    __table_args__ = (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint(
            "rows_total >= 0 AND rows_refused >= 0 AND rows_inserted >= 0"
            " AND rows_updated >= 0 AND rows_unchanged >= 0",
            name="counts_nonnegative",
        ),
        Index("ix_imports_sha256", "sha256"),
        # A customer file is imported once; purchase files are idempotent upserts instead.
        Index(
            "uq_imports_customers_done_sha256",
            "sha256",
            unique=True,
            postgresql_where="kind = 'customers' AND status = 'done'",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(pg_enum("import_kind", *IMPORT_KINDS))
    status: Mapped[str] = mapped_column(
        pg_enum("import_status", *IMPORT_STATUSES), server_default="running"
    )
    file_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(Text)
    # Who: a user of the system when known, and the name given by the caller (e.g. OS login).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(Text)
    # Ledger entries written by the import carry this as their request id.
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    rows_total: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_refused: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_inserted: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_updated: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_unchanged: Mapped[int] = mapped_column(Integer, server_default="0")
    started_at: Mapped[dt.datetime] = utcnow_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
