"""export log: one row per export of customer data (who, filter, rows, unmasked fields)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "export_logs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("filter", postgresql.JSONB(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("revealed", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("file_name", sa.Text()),
        sa.Column("request_id", sa.Uuid()),
        sa.CheckConstraint("format IN ('xlsx', 'csv')", name="format_known"),
        sa.CheckConstraint("row_count >= 0", name="row_count_nonnegative"),
    )
    op.create_index("ix_export_logs_user_id_at", "export_logs", ["user_id", "at"])


def downgrade() -> None:
    op.drop_table("export_logs")
