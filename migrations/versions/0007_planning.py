"""planning: background jobs, route plans with their items, location provenance

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_STATUS = postgresql.ENUM(
    "queued", "running", "done", "failed", "cancelled", name="job_status", create_type=False
)
PLAN_KIND = postgresql.ENUM(
    "day", "quarterly", "resequence", "insert", "visit_batches", name="plan_kind",
    create_type=False,
)  # fmt: skip
PLAN_STATUS = postgresql.ENUM(
    "computing", "ready", "failed", "cancelled", "submitted", "applied", "stale",
    name="plan_status", create_type=False,
)  # fmt: skip

# Workers wait on this channel instead of polling hard; the payload is the job id.
NOTIFY = """
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobs', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_notify();
"""


def _now() -> sa.Column[sa.DateTime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    bind = op.get_bind()
    for enum in (JOB_STATUS, PLAN_KIND, PLAN_STATUS):
        enum.create(bind)
    op.add_column("customers", sa.Column("location_input", postgresql.JSONB(astext_type=sa.Text())))
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", JOB_STATUS, nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text())),
        sa.Column("error", sa.Text()),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id")),
        _now(),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("progress BETWEEN 0 AND 1", name="progress_fraction"),
    )
    op.create_index("ix_jobs_created_by_id", "jobs", ["created_by_id"])
    op.create_index("ix_jobs_queued", "jobs", ["id"], postgresql_where=sa.text("status = 'queued'"))
    op.execute(NOTIFY)
    op.create_table(
        "route_plans",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("kind", PLAN_KIND, nullable=False),
        sa.Column("status", PLAN_STATUS, nullable=False),
        sa.Column("job_id", sa.BigInteger(), sa.ForeignKey("jobs.id")),
        sa.Column("depot_id", sa.Integer(), sa.ForeignKey("depots.id")),
        sa.Column("weekday", sa.SmallInteger()),
        sa.Column("manager_id", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text())),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("tickets.id")),
        _now(),
    )
    op.create_index("ix_route_plans_job_id", "route_plans", ["job_id"])
    op.create_index("ix_route_plans_created_by_id", "route_plans", ["created_by_id"])
    op.create_table(
        "route_plan_items",
        sa.Column(
            "plan_id",
            sa.BigInteger(),
            sa.ForeignKey("route_plans.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("customer_id", sa.BigInteger(), sa.ForeignKey("customers.id"), primary_key=True),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("old_route_id", sa.Integer(), sa.ForeignKey("delivery_routes.id")),
        sa.Column("old_sequence", sa.Integer()),
        sa.Column("new_route_id", sa.Integer(), sa.ForeignKey("delivery_routes.id")),
        sa.Column("new_sequence", sa.Integer()),
        sa.Column("old_order_batch", sa.SmallInteger()),
        sa.Column("new_order_batch", sa.SmallInteger()),
        sa.Column("old_visit_batch", sa.SmallInteger()),
        sa.Column("new_visit_batch", sa.SmallInteger()),
    )


def downgrade() -> None:
    op.drop_table("route_plan_items")
    op.drop_table("route_plans")
    op.execute("DROP TRIGGER jobs_notify ON jobs; DROP FUNCTION jobs_notify();")
    op.drop_table("jobs")
    op.drop_column("customers", "location_input")
    bind = op.get_bind()
    for enum in (PLAN_STATUS, PLAN_KIND, JOB_STATUS):
        enum.drop(bind)
