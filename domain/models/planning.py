"""Background jobs and route plans.

A job is a row (kind, parameters, status, progress, cancel flag) that a worker process
claims with ``FOR UPDATE SKIP LOCKED``, so planning never runs inside a request and any
number of workers can share the queue. A route plan is the stored, not yet applied result
of a planning job: per-route stats before and after, and one item per shop it covers
(old and new route, sequence, order and visit batch). Submitting a plan opens one ticket;
its final approval applies the items through the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, pg_enum, utcnow_column

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
PLAN_KINDS = ("day", "quarterly", "resequence", "insert", "visit_batches", "move")
PLAN_STATUSES = ("computing", "ready", "failed", "cancelled", "submitted", "applied", "stale")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("progress BETWEEN 0 AND 1", name="progress_fraction"),
        Index("ix_jobs_queued", "id", postgresql_where="status = 'queued'"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(pg_enum("job_status", *JOB_STATUSES), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = utcnow_column()
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RoutePlan(Base):
    __tablename__ = "route_plans"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(pg_enum("plan_kind", *PLAN_KINDS))
    status: Mapped[str] = mapped_column(pg_enum("plan_status", *PLAN_STATUSES), default="computing")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    depot_id: Mapped[int | None] = mapped_column(ForeignKey("depots.id"))
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Per-route stats before and after, totals, balance, the solver's figures, violations.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[dt.datetime] = utcnow_column()


class RoutePlanItem(Base):
    """One shop in a plan: where it is now and where the plan puts it."""

    __tablename__ = "route_plan_items"

    plan_id: Mapped[int] = mapped_column(
        ForeignKey("route_plans.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    base_version: Mapped[int] = mapped_column(Integer)
    old_route_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_routes.id"))
    old_sequence: Mapped[int | None] = mapped_column(Integer)
    new_route_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_routes.id"))
    new_sequence: Mapped[int | None] = mapped_column(Integer)
    old_order_batch: Mapped[int | None] = mapped_column(SmallInteger)
    new_order_batch: Mapped[int | None] = mapped_column(SmallInteger)
    old_visit_batch: Mapped[int | None] = mapped_column(SmallInteger)
    new_visit_batch: Mapped[int | None] = mapped_column(SmallInteger)
