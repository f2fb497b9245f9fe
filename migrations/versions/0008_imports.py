"""imports: one row per bulk import of a file (who, file, sha256, counts, status, times)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMPORT_KIND = postgresql.ENUM("customers", "purchases", name="import_kind", create_type=False)
IMPORT_STATUS = postgresql.ENUM(
    "running", "done", "interrupted", name="import_status", create_type=False
)


def _count(name: str) -> sa.Column[sa.Integer]:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def upgrade() -> None:
    bind = op.get_bind()
    for enum in (IMPORT_KIND, IMPORT_STATUS):
        enum.create(bind)
    op.create_table(
        "imports",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("kind", IMPORT_KIND, nullable=False),
        sa.Column("status", IMPORT_STATUS, server_default="running", nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("actor_name", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        _count("rows_total"),
        _count("rows_refused"),
        _count("rows_inserted"),
        _count("rows_updated"),
        _count("rows_unchanged"),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        sa.CheckConstraint(
            "rows_total >= 0 AND rows_refused >= 0 AND rows_inserted >= 0"
            " AND rows_updated >= 0 AND rows_unchanged >= 0",
            name="counts_nonnegative",
        ),
    )
    op.create_index("ix_imports_sha256", "imports", ["sha256"])
    op.create_index(
        "uq_imports_customers_done_sha256", "imports", ["sha256"], unique=True,
        postgresql_where=sa.text("kind = 'customers' AND status = 'done'"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("imports")
    bind = op.get_bind()
    for enum in (IMPORT_STATUS, IMPORT_KIND):
        enum.drop(bind)
