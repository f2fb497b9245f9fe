"""calendar years entered in the admin: the State Council's holiday schedules (append-only)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

chinese-calendar 1.11 knows 2004-2026; the schedule of the next year is published each
winter and must reach the working calendar before the first deadline that falls in it.
IT enters it in the admin (工作日历); each entry is a row, a correction a new row (the
latest of a year is in force), so who decided which days were holidays stays on record.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE FUNCTION calendar_years_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'calendar_years is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER calendar_years_append_only
    BEFORE UPDATE OR DELETE ON calendar_years
    FOR EACH ROW EXECUTE FUNCTION calendar_years_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "calendar_years",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("holidays", sa.ARRAY(sa.Date()), nullable=False),
        sa.Column("workdays", sa.ARRAY(sa.Date()), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("entered_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column(
            "entered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("note", sa.Text()),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="year_in_range"),
    )
    op.create_index("ix_calendar_years_year_id", "calendar_years", ["year", "id"])
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.drop_table("calendar_years")
    op.execute("DROP FUNCTION calendar_years_append_only()")
