"""Batch loads of tickets' steps and proposed changes: one query per page for each."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.catalogue import FieldSpec
from domain.ledger import tracked_fields
from domain.models import Ticket, TicketChange, TicketStep
from domain.tickets.present import shown_value
from schema.tickets.types import TicketChange as ChangeNode
from schema.tickets.types import TicketStep as StepNode

IN_PROGRESS = ("open", "applied")  # an applied ticket may still have verification steps


def step_node(row: TicketStep, ticket_status: str) -> StepNode:
    return StepNode(
        id=row.id, position=row.position, key=row.key, name=row.name, role=row.role,
        kind=row.kind, status=row.status, started_at=row.started_at, due_at=row.due_at,
        decided_at=row.decided_at, decision=row.decision, comment=row.comment,
        _assignee_id=row.assignee_id, _decided_by_id=row.decided_by_id,
        _running=row.status == "active" and ticket_status in IN_PROGRESS,
    )  # fmt: skip


def change_node(row: TicketChange, specs: dict[str, FieldSpec]) -> ChangeNode:
    spec = specs.get(row.field_key)
    return ChangeNode(
        field=row.field_key, label=spec.label_zh if spec is not None else row.field_key,
        customer_id=row.customer_id, old=shown_value(spec, row.old_value),
        new=shown_value(spec, row.new_value),
    )  # fmt: skip


def load_steps(session: Session, keys: Sequence[int]) -> list[list[StepNode]]:
    rows = session.execute(
        select(TicketStep, Ticket.status)
        .join(Ticket, Ticket.id == TicketStep.ticket_id)
        .where(TicketStep.ticket_id.in_(keys))
        .order_by(TicketStep.ticket_id, TicketStep.position)
    ).all()
    grouped: dict[int, list[StepNode]] = {k: [] for k in keys}
    for step, status in rows:
        grouped[step.ticket_id].append(step_node(step, status))
    return [grouped[k] for k in keys]


def load_changes(session: Session, keys: Sequence[int]) -> list[list[ChangeNode]]:
    rows = session.scalars(
        select(TicketChange)
        .where(TicketChange.ticket_id.in_(keys))
        .order_by(TicketChange.ticket_id, TicketChange.id)
    )
    specs = tracked_fields()
    grouped: dict[int, list[ChangeNode]] = {k: [] for k in keys}
    for row in rows:
        grouped[row.ticket_id].append(change_node(row, specs))
    return [grouped[k] for k in keys]
