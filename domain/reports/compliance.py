"""Time-limit compliance of ticket steps (工单时限执行情况), per department and ticket type.

The steps due in the month count: done on time (decided by the due time), done late, and
still open past due (overdue at the report's cut-off: the month's end, or now when earlier);
open steps not yet due are shown apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from domain.models import Ticket, TicketStep
from domain.models.org import ROLE_LABELS_ZH
from domain.reports.book import Sheet, next_month
from domain.tickets.types import ticket_types
from domain.workcal.working_calendar import DEFAULT_TZ as CHINA_TZ

HEADER = (
    "部门",
    "工单类型",
    "到期步骤数",
    "按时办结",
    "超时办结",
    "逾期未办",
    "未到期在办",
    "按时率",
)


@dataclass(frozen=True)
class ComplianceRow:
    role: str
    ticket_type: str
    due: int
    on_time: int
    late: int
    open_overdue: int
    open_not_due: int

    @property
    def on_time_rate(self) -> float:
        return round(self.on_time / self.due, 4) if self.due else 0.0


def compliance_rows(
    session: Session, month: dt.date, *, now: dt.datetime,
    scope: ColumnElement[bool] | None = None,
) -> list[ComplianceRow]:  # fmt: skip
    """One row per (step role, ticket type) with steps due in ``month`` (China time)."""
    start = dt.datetime.combine(month, dt.time(), tzinfo=CHINA_TZ)
    end = dt.datetime.combine(next_month(month), dt.time(), tzinfo=CHINA_TZ)
    cutoff = min(now, end)
    s = TicketStep
    done = s.status == "done"
    active = s.status == "active"
    stmt = (
        select(
            s.role, Ticket.type, func.count(),
            func.count().filter(and_(done, s.decided_at <= s.due_at)),
            func.count().filter(and_(done, s.decided_at > s.due_at)),
            func.count().filter(and_(active, s.due_at < cutoff)),
            func.count().filter(and_(active, s.due_at >= cutoff)),
        )
        .join(Ticket, Ticket.id == s.ticket_id)
        .where(s.due_at >= start, s.due_at < end, scope if scope is not None else true())
        .group_by(s.role, Ticket.type)
        .order_by(s.role, Ticket.type)
    )  # fmt: skip
    return [ComplianceRow(*row) for row in session.execute(stmt)]


def compliance_sheet(rows: list[ComplianceRow]) -> Sheet:
    types = ticket_types()
    body = [
        (ROLE_LABELS_ZH.get(r.role, r.role), types[r.ticket_type].name if r.ticket_type in types
         else r.ticket_type, r.due, r.on_time, r.late, r.open_overdue, r.open_not_due,
         r.on_time_rate)
        for r in rows
    ]  # fmt: skip
    return Sheet("工单时限执行情况", HEADER, body)
