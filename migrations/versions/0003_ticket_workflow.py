"""ticket workflow: types as data, maker-checker in the database, notifications, duties

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TICKET_TYPES = (
    "onboarding", "change_city", "change_county", "phone_change", "location_change",
    "route_change", "bulk_change", "emergency_change", "credit_rating", "classification_recompute",
)  # fmt: skip

STEP_MAKER = """
CREATE FUNCTION ticket_steps_copy_maker() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT maker_id INTO NEW.maker_id FROM tickets WHERE id = NEW.ticket_id;
    RETURN NEW;
END $$;
CREATE TRIGGER ticket_steps_copy_maker
    BEFORE INSERT OR UPDATE OF ticket_id, maker_id ON ticket_steps
    FOR EACH ROW EXECUTE FUNCTION ticket_steps_copy_maker();
"""


def upgrade() -> None:
    op.create_table(
        "duties",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["done_by_id"], ["users.id"], name=op.f("fk_duties_done_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_duties_org_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duties")),
    )
    op.create_index(
        "uq_duties_kind_period_org_unit_id",
        "duties",
        ["kind", "period", "org_unit_id"],
        unique=True,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "user_id IS NOT NULL OR customer_id IS NOT NULL",
            name=op.f("ck_notifications_has_recipient"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_notifications_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_notifications_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(op.f("ix_notifications_customer_id"), "notifications", ["customer_id"])
    op.create_index(op.f("ix_notifications_ticket_id"), "notifications", ["ticket_id"])
    op.create_index("ix_notifications_user_id_read_at", "notifications", ["user_id", "read_at"])

    op.add_column(
        "ticket_steps", sa.Column("key", sa.Text(), server_default="step", nullable=False)
    )
    op.add_column(
        "ticket_steps", sa.Column("kind", sa.Text(), server_default="approve", nullable=False)
    )
    op.add_column(
        "ticket_steps", sa.Column("applies", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column(
        "ticket_steps",
        sa.Column(
            "fills", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
    )
    op.add_column("ticket_steps", sa.Column("maker_id", sa.Integer(), nullable=True))
    op.add_column(
        "ticket_steps", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_ticket_steps_maker_id_users"), "ticket_steps", "users", ["maker_id"], ["id"]
    )
    op.execute(
        "UPDATE ticket_steps s SET maker_id = t.maker_id FROM tickets t WHERE t.id = s.ticket_id"
    )
    op.create_check_constraint(
        op.f("ck_ticket_steps_maker_checker"),
        "ticket_steps",
        "decided_by_id IS NULL OR decision = 'withdraw' OR decided_by_id <> maker_id",
    )
    op.execute(STEP_MAKER)
    op.create_index(
        "ix_ticket_steps_active_role_due_at",
        "ticket_steps",
        ["role", "due_at"],
        postgresql_where=sa.text("status = 'active'"),
    )

    op.add_column("tickets", sa.Column("region_id", sa.Integer(), nullable=True))
    op.execute("ALTER TABLE tickets ALTER COLUMN type TYPE text USING type::text")
    op.execute("DROP TYPE ticket_type")
    op.execute(
        "UPDATE tickets t SET region_id = c.admin_region_id"
        " FROM customers c WHERE c.id = t.customer_id"
    )
    op.create_index(op.f("ix_tickets_region_id"), "tickets", ["region_id"])
    op.create_foreign_key(
        op.f("fk_tickets_region_id_regions"), "tickets", "regions", ["region_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_tickets_region_id_regions"), "tickets", type_="foreignkey")
    op.drop_index(op.f("ix_tickets_region_id"), table_name="tickets")
    ticket_type = postgresql.ENUM(*TICKET_TYPES, name="ticket_type")
    ticket_type.create(op.get_bind())
    op.execute("ALTER TABLE tickets ALTER COLUMN type TYPE ticket_type USING type::ticket_type")
    op.drop_column("tickets", "region_id")
    op.drop_index("ix_ticket_steps_active_role_due_at", table_name="ticket_steps")
    op.execute("DROP TRIGGER ticket_steps_copy_maker ON ticket_steps")
    op.execute("DROP FUNCTION ticket_steps_copy_maker()")
    op.drop_constraint(op.f("ck_ticket_steps_maker_checker"), "ticket_steps", type_="check")
    op.drop_constraint(op.f("fk_ticket_steps_maker_id_users"), "ticket_steps", type_="foreignkey")
    for column in ("escalated_at", "maker_id", "fills", "applies", "kind", "key"):
        op.drop_column("ticket_steps", column)
    op.drop_index("ix_notifications_user_id_read_at", table_name="notifications")
    op.drop_index(op.f("ix_notifications_ticket_id"), table_name="notifications")
    op.drop_index(op.f("ix_notifications_customer_id"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("uq_duties_kind_period_org_unit_id", table_name="duties")
    op.drop_table("duties")
