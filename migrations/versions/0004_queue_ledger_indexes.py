"""queue index with a tie-breaker; ledger entries by ticket

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    # Many steps share a due time (overnight arrivals): the id makes the page an index scan.
    op.drop_index("ix_ticket_steps_active_role_due_at", table_name="ticket_steps")
    op.create_index(
        "ix_ticket_steps_active_role_due_at_id", "ticket_steps", ["role", "due_at", "id"],
        postgresql_where=ACTIVE,
    )  # fmt: skip
    # A ticket's ledger rows, and the foreign-key check when tickets are archived.
    op.create_index("ix_ledger_entries_ticket_id", "ledger_entries", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_ticket_id", table_name="ledger_entries")
    op.drop_index("ix_ticket_steps_active_role_due_at_id", table_name="ticket_steps")
    op.create_index(
        "ix_ticket_steps_active_role_due_at", "ticket_steps", ["role", "due_at"],
        postgresql_where=ACTIVE,
    )  # fmt: skip
