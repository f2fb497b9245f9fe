"""index purchase_records (month): the latest purchase month in one index lookup

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Route volumes, shop demands and the classification read "the last three purchase months
present in the records", i.e. ``max(month)`` over every shop's records: without this index
a scan of all of them (1.2 M rows in the 100,000-shop city, ≈ 70 ms) on every route's
figures.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_purchase_records_month", "purchase_records", ["month"])


def downgrade() -> None:
    op.drop_index("ix_purchase_records_month", table_name="purchase_records")
