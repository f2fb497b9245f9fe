"""ledger append-only with provenance, archive lifecycle, personal-data reveal log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_SOURCE = postgresql.ENUM(
    "edit", "ticket", "classification", "close", "merge", "import", "system",
    name="ledger_source",
)  # fmt: skip

APPEND_ONLY = """
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "personal_data_reveals",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("field_key", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_personal_data_reveals_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_personal_data_reveals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_reveals")),
    )
    op.create_index(
        "ix_personal_data_reveals_customer_id_at", "personal_data_reveals", ["customer_id", "at"]
    )
    op.create_index(op.f("ix_personal_data_reveals_user_id"), "personal_data_reveals", ["user_id"])

    op.add_column("customers", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("customers", sa.Column("merged_into_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_customers_merged_into_id_customers"),
        "customers",
        "customers",
        ["merged_into_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_customers_merged_is_closed"),
        "customers",
        "merged_into_id IS NULL OR status = 'closed'",
    )
    op.create_check_constraint(
        op.f("ck_customers_not_merged_into_self"), "customers", "merged_into_id <> id"
    )

    LEDGER_SOURCE.create(op.get_bind())
    # Rows written before provenance existed are marked 'system'.
    op.add_column(
        "ledger_entries",
        sa.Column("source", LEDGER_SOURCE, nullable=False, server_default="system"),
    )
    op.alter_column("ledger_entries", "source", server_default=None)
    for column in ("old_value", "new_value"):
        op.alter_column(
            "ledger_entries",
            column,
            existing_type=postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
        )
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
    op.execute("DROP FUNCTION ledger_entries_append_only()")
    # A NULL value means "empty"; store it as JSON null to satisfy the old NOT NULL.
    for column in ("old_value", "new_value"):
        op.execute(f"UPDATE ledger_entries SET {column} = 'null'::jsonb WHERE {column} IS NULL")
        op.alter_column(
            "ledger_entries",
            column,
            existing_type=postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
        )
    op.drop_column("ledger_entries", "source")
    LEDGER_SOURCE.drop(op.get_bind())
    op.drop_constraint(op.f("ck_customers_not_merged_into_self"), "customers", type_="check")
    op.drop_constraint(op.f("ck_customers_merged_is_closed"), "customers", type_="check")
    op.drop_constraint(
        op.f("fk_customers_merged_into_id_customers"), "customers", type_="foreignkey"
    )
    op.drop_column("customers", "merged_into_id")
    op.drop_column("customers", "closed_at")
    op.drop_index(op.f("ix_personal_data_reveals_user_id"), table_name="personal_data_reveals")
    op.drop_index("ix_personal_data_reveals_customer_id_at", table_name="personal_data_reveals")
    op.drop_table("personal_data_reveals")
