"""The periodic run (``tick``): recurring duties, notice periods that end by themselves, and
escalation of overdue steps. Called by ``retailgis tick`` and by the web process's periodic
task; a PostgreSQL advisory lock makes concurrent calls across processes run it once.

Escalation (督办): an active step past its due time is escalated once per activation
(``escalated_at`` set; a step restarted after a return may be escalated again) with an
``escalation`` notification to the heads of the responsible unit:

======================  ====================================================================
step role               notified
======================  ====================================================================
city department roles   the active users of that role at the city unit (there is no head
(market_dept, ...)      role: the whole department is told, its head among them)
customer_manager        the market manager(s) of the team: the market area of the shop's
                        customer manager (or of the step's assignee when no shop)
market_manager          the county_dept users of the ticket's county (``tickets.region_id``,
                        else the shop's administrative region)
county_dept             the market_dept users at the city unit (customer service admin)
======================  ====================================================================

A step whose heads cannot be found (no such user) is still escalated and goes to the
market_dept users, so that no escalation is lost. Not escalated: notice steps (a waiting
period, see below) and steps of returned tickets (the maker holds them).

Notice steps (公示): an active ``notice`` step completes by itself once its due time has
passed (decision NULL, decided at ``now``) and the next step starts. A ticket whose
``payload["appeal_open"]`` is true keeps its notice step until the appeal is settled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, func, insert, not_, or_, select, text
from sqlalchemy.orm import Session

from domain.errors import DomainError
from domain.idempotency import purge as purge_idempotency_keys
from domain.models import Notification, Ticket, TicketStep
from domain.models.org import ROLE_LABELS_ZH
from domain.tickets.duties import due_duties, insert_duties
from domain.tickets.engine import activate
from domain.workcal import WorkingCalendar

# pg_try_advisory_xact_lock key of the periodic run: b"RGTICK" read as an integer.
TICK_LOCK_KEY = 0x5247_5449_434B
CITY_ROLES = ("market_dept", "delivery_dept", "sales_dept", "licensing", "it_admin")
OPEN = ("open", "applied")  # applied tickets may still have verification steps
FALLBACK_ROLE = "market_dept"

_ESCALATE = text(
    """
    UPDATE ticket_steps AS s SET escalated_at = :now
    FROM tickets AS t
    WHERE t.id = s.ticket_id AND s.id IN (
        SELECT s2.id FROM ticket_steps AS s2 JOIN tickets AS t2 ON t2.id = s2.ticket_id
        WHERE s2.status = 'active' AND s2.kind <> 'notice' AND s2.due_at < :now
          AND (s2.escalated_at IS NULL OR s2.escalated_at < s2.started_at)
          AND t2.status IN ('open', 'applied')
        FOR UPDATE OF s2 SKIP LOCKED
    )
    RETURNING s.id, s.ticket_id, s.name, s.role, s.due_at, t.title
    """
)

# (step id, user id) for every escalated step and each head of its responsible unit.
_HEADS = text(
    """
    WITH s AS (
        SELECT s.id AS step_id, s.role, COALESCE(c.customer_manager_id, s.assignee_id) AS cm_id,
               COALESCE(t.region_id, c.admin_region_id) AS region_id
        FROM ticket_steps AS s
        JOIN tickets AS t ON t.id = s.ticket_id
        LEFT JOIN customers AS c ON c.id = t.customer_id
        WHERE s.id IN :step_ids
    ), city_users AS (
        SELECT u.id AS user_id, u.role::text AS role
        FROM users AS u JOIN org_units AS o ON o.id = u.org_unit_id
        WHERE o.kind = 'city' AND u.is_active
    )
    SELECT s.step_id, h.user_id FROM s JOIN city_users AS h ON h.role = s.role
    WHERE s.role IN :city_roles
    UNION
    SELECT s.step_id, mm.id FROM s
    JOIN users AS cm ON cm.id = s.cm_id
    JOIN users AS mm ON mm.org_unit_id = cm.org_unit_id
        AND mm.role = 'market_manager' AND mm.is_active
    WHERE s.role = 'customer_manager'
    UNION
    SELECT s.step_id, u.id FROM s
    JOIN org_units AS o ON o.kind = 'county' AND o.region_id = s.region_id
    JOIN users AS u ON u.org_unit_id = o.id AND u.role = 'county_dept' AND u.is_active
    WHERE s.role = 'market_manager'
    UNION
    SELECT s.step_id, h.user_id FROM s JOIN city_users AS h ON h.role = 'market_dept'
    WHERE s.role = 'county_dept'
    """
).bindparams(bindparam("step_ids", expanding=True), bindparam("city_roles", expanding=True))


@dataclass(frozen=True)
class TickReport:
    """What one periodic run did; ``ran`` is False when another process held the lock."""

    ran: bool
    duties_created: int = 0
    notices_completed: int = 0
    steps_escalated: int = 0
    problems: tuple[str, ...] = ()
    idempotency_keys_purged: int = 0


def describe_working_time(span: dt.timedelta, day_total: dt.timedelta) -> str:
    """A working-time span in Chinese: ``1个工作日2小时5分钟`` (days of ``day_total``)."""
    minutes = int(span.total_seconds() // 60)
    if minutes <= 0:
        return "不足1分钟"
    per_day = max(1, int(day_total.total_seconds() // 60))
    days, rest = divmod(minutes, per_day)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}个工作日" if days else "", f"{hours}小时" if hours else ""]
    parts.append(f"{mins}分钟" if mins else "")
    return "".join(parts)


def _overdue_text(due: dt.datetime, now: dt.datetime, calendar: WorkingCalendar) -> str:
    try:
        span = calendar.working_time_between(due, now)
    except DomainError:  # the calendar does not cover the year yet: say so, never guess
        return f"{describe_working_time(now - due, dt.timedelta(days=1))}（自然时间）"
    return f"{describe_working_time(span, calendar.day_total)}（工作时间）"


class _Overdue(NamedTuple):
    step_id: int
    ticket_id: int
    step_name: str
    role: str
    due_at: dt.datetime
    title: str


def _escalation_text(step: _Overdue, now: dt.datetime, cal: WorkingCalendar) -> str:
    who = ROLE_LABELS_ZH.get(step.role, step.role)
    due = step.due_at.astimezone(cal.tz)
    return (
        f"督办：工单「{step.title}」（#{step.ticket_id}）的步骤「{step.step_name}」（{who}办理）"
        f"已超期{_overdue_text(step.due_at, now, cal)}，期限为 {due:%Y-%m-%d %H:%M}，请督促办理。"
    )


def _fallback_users(session: Session) -> list[int]:
    rows = session.execute(
        text(
            "SELECT u.id FROM users AS u JOIN org_units AS o ON o.id = u.org_unit_id"
            " WHERE o.kind = 'city' AND u.role = :role AND u.is_active ORDER BY u.id"
        ),
        {"role": FALLBACK_ROLE},
    )
    return [int(r[0]) for r in rows]


def escalate_overdue(session: Session, *, now: dt.datetime, calendar: WorkingCalendar) -> int:
    """Escalate every overdue active step not yet escalated; the number of steps escalated."""
    steps = sorted(_Overdue(*r) for r in session.execute(_ESCALATE, {"now": now}))
    if not steps:
        return 0
    step_ids = [s.step_id for s in steps]
    pairs = session.execute(_HEADS, {"step_ids": step_ids, "city_roles": list(CITY_ROLES)})
    heads: dict[int, set[int]] = {}
    for step_id, user_id in pairs:
        heads.setdefault(int(step_id), set()).add(int(user_id))
    fallback: list[int] | None = None
    rows = []
    for step in steps:
        users = heads.get(step.step_id)
        if not users:
            fallback = _fallback_users(session) if fallback is None else fallback
            users = set(fallback)
        message = _escalation_text(step, now, calendar)
        rows += [
            {"kind": "escalation", "user_id": u, "ticket_id": step.ticket_id, "text": message,
             "created_at": now}
            for u in sorted(users)
        ]  # fmt: skip
    if rows:
        session.execute(insert(Notification), rows)
    return len(steps)


def complete_due_notices(session: Session, *, now: dt.datetime, calendar: WorkingCalendar) -> int:
    """End the notice steps whose period is over and start their next steps; how many."""
    appeal_open = Ticket.payload.contains({"appeal_open": True})
    rows = session.execute(
        select(TicketStep, Ticket)
        .join(Ticket, Ticket.id == TicketStep.ticket_id)
        .where(
            TicketStep.kind == "notice",
            TicketStep.status == "active",
            TicketStep.due_at <= now,
            Ticket.status.in_(OPEN),
            or_(Ticket.payload.is_(None), not_(appeal_open)),
        )
        .order_by(Ticket.id)
        .with_for_update(of=Ticket, skip_locked=True)
    ).all()
    for step, ticket in rows:
        step.status, step.decision, step.decided_at = "done", None, now
        step.comment = "公示期满，系统自动办结"
        following = session.scalar(
            select(TicketStep)
            .where(
                TicketStep.ticket_id == ticket.id,
                TicketStep.position > step.position,
                TicketStep.status == "waiting",
            )
            .order_by(TicketStep.position)
            .limit(1)
        )
        if following is not None:
            activate(following, now, calendar)
        else:
            ticket.closed_at = now
        ticket.updated_at = now
    session.flush()
    return len(rows)


def _part(session: Session, problems: list[str], work: Callable[[], int]) -> int:
    """One part of the run in a savepoint: a DomainError (an uncovered calendar year) is
    recorded and the part rolled back; the other parts still run."""
    try:
        with session.begin_nested():
            return work()
    except DomainError as err:
        problems.append(err.message)
        return 0


def tick(session: Session, *, now: dt.datetime, calendar: WorkingCalendar) -> TickReport:
    """Generate duties, end notice periods, escalate overdue steps, forget idempotency keys
    past their retention: once across processes.

    The caller commits (the advisory lock is held until then); a caller that does not get
    the lock does nothing and gets ``ran=False``.
    """
    if not session.scalar(select(func.pg_try_advisory_xact_lock(TICK_LOCK_KEY))):
        return TickReport(ran=False)
    problems: list[str] = []
    plans, uncovered = due_duties(now.astimezone(calendar.tz).date(), calendar)
    problems += uncovered
    duties = _part(session, problems, lambda: insert_duties(session, plans))
    notices = _part(
        session, problems, lambda: complete_due_notices(session, now=now, calendar=calendar)
    )
    escalated = _part(
        session, problems, lambda: escalate_overdue(session, now=now, calendar=calendar)
    )
    purged = _part(session, problems, lambda: purge_idempotency_keys(session, now=now))
    return TickReport(True, duties, notices, escalated, tuple(dict.fromkeys(problems)), purged)
