"""Tickets (工单), their steps and proposed changes, and the modification ledger (台帐).

The workflow behaviour comes with the tickets issue; the tables start here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, pg_enum, utcnow_column

TICKET_STATUSES = ("open", "returned", "approved", "applied", "rejected", "withdrawn", "stale")
STEP_STATUSES = ("waiting", "active", "done", "skipped")
STEP_DECISIONS = ("approve", "reject", "return", "withdraw")
LIMIT_UNITS = ("working_day", "half_hour")
# Where a ledger row came from: a direct edit, an applied ticket, a system recompute, ...
LEDGER_SOURCES = ("edit", "ticket", "classification", "close", "merge", "import", "system")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_type", "status", "type"),
        Index("ix_tickets_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # A key of domain/tickets/types.toml (data, so a type can change without code).
    type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(
        pg_enum("ticket_status", *TICKET_STATUSES), server_default="open"
    )
    title: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    maker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # The county the ticket belongs to (the customer's region, or the maker's county).
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    # The customer's version the proposal was built on; a newer record makes it stale.
    base_version: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = utcnow_column()
    updated_at: Mapped[dt.datetime] = utcnow_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TicketStep(Base):
    """A step of a ticket, materialised from its type when the ticket opens.

    ``maker_id`` is copied from the ticket by a trigger, and a CHECK forbids the maker to
    decide any step but a withdrawal: a maker never checks the own ticket.
    """

    __tablename__ = "ticket_steps"
    __table_args__ = (
        CheckConstraint("limit_value > 0", name="limit_positive"),
        CheckConstraint(
            "decided_by_id IS NULL OR decision = 'withdraw' OR decided_by_id <> maker_id",
            name="maker_checker",
        ),
        Index("ix_ticket_steps_ticket_id_position", "ticket_id", "position", unique=True),
        Index("ix_ticket_steps_status_due_at", "status", "due_at"),
        Index(
            "ix_ticket_steps_active_role_due_at_id",
            "role",
            "due_at",
            "id",
            postgresql_where="status = 'active'",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    key: Mapped[str] = mapped_column(Text, server_default="step")
    name: Mapped[str] = mapped_column(Text)
    # approve: decides; verify: checks after the change is applied; notice: waits out a period
    kind: Mapped[str] = mapped_column(Text, server_default="approve")
    applies: Mapped[bool] = mapped_column(Boolean, server_default="false")
    fills: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    maker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(Text)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(
        pg_enum("step_status", *STEP_STATUSES), server_default="waiting"
    )
    limit_value: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    limit_unit: Mapped[str] = mapped_column(pg_enum("limit_unit", *LIMIT_UNITS))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str | None] = mapped_column(pg_enum("step_decision", *STEP_DECISIONS))
    comment: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TicketChange(Base):
    """One proposed field change of a ticket (field, old value, new value)."""

    __tablename__ = "ticket_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    field_key: Mapped[str] = mapped_column(Text)
    old_value: Mapped[Any] = mapped_column(JSONB)
    new_value: Mapped[Any] = mapped_column(JSONB)


class LedgerEntry(Base):
    """The modification ledger (客户信息修改台帐): one row per field change, but one row per
    imported record (``domain.ledger.IMPORT_RECORD``; readers expand it field by field).

    Append-only: a trigger in the database refuses UPDATE and DELETE (migration 0002).
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_customer_id_at", "customer_id", "at"),
        Index("ix_ledger_entries_ticket_id", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = utcnow_column()
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    source: Mapped[str] = mapped_column(pg_enum("ledger_source", *LEDGER_SOURCES))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    field_key: Mapped[str] = mapped_column(Text)
    # JSON of the value (see domain.values); personal fields hold {masked, fp, enc} instead.
    old_value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    new_value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)


class PersonalDataReveal(Base):
    """Every reveal of an unmasked personal value by a role holding the grant."""

    __tablename__ = "personal_data_reveals"
    __table_args__ = (Index("ix_personal_data_reveals_customer_id_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = utcnow_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    field_key: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Notification(Base):
    """A stored notification to a user (inbox) or to a customer (text to be sent)."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("user_id IS NOT NULL OR customer_id IS NOT NULL", name="has_recipient"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[dt.datetime] = utcnow_column()
    kind: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Duty(Base):
    """A recurring duty generated by the scheduler (e.g. the quarterly route adjustment)."""

    __tablename__ = "duties"
    __table_args__ = (
        Index("uq_duties_kind_period_org_unit_id", "kind", "period", "org_unit_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    period: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = utcnow_column()
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
