"""Recurring duties (定期工作): generated per period and org unit, completed by their role.

=====================  ==============  ===========  ==========  =============================
kind                   role            one per      period      due on
=====================  ==============  ===========  ==========  =============================
quarterly_adjustment   delivery_dept   city unit    2026-Q4     last working day of the
(线路、订货周期、                                                  quarter: "adjusted at
拜访周期季度调整)                                                  least once a quarter"
static_review          county_dept     county unit  2026-H2     last working day of the
(静态信息半年核查)                                                  half-year
monthly_check          market_manager  market area  2026-11     last working day of the month
(市场经理月度检查)
classification_table   county_dept     county unit  2026-12     the 3rd of that month, or the
(分类调整表)                                                       next working day when the
                                                                  3rd is not one
=====================  ==============  ===========  ==========  =============================

The static-field review goes to each county: the county department organises the on-site
check of its shops' static fields (customer managers verify, the county confirms); the
market department sees the result through the archive. The classification table generated
on a date is the next one due on or after it (on 2026-11-23: 2026-12, due 2026-12-03).
A duty is generated only for units with an active user of its role (nobody could do it).
The customer managers' monthly record maintenance is not generated: a duty belongs to an
org unit, not to a person, and the market manager's monthly check covers the team.

Generation is idempotent through the unique index (kind, period, org_unit_id): INSERT ...
ON CONFLICT DO NOTHING. A period whose due date falls in a year the working calendar does
not cover yet is skipped with a message (deadlines are never guessed).
"""

from __future__ import annotations

import calendar as gregorian
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Date, Select, Text, exists, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from domain.access import Principal
from domain.errors import CALENDAR_NOT_COVERED, FORBIDDEN, INVALID, NOT_FOUND, DomainError
from domain.models import Duty, OrgUnit, User
from domain.models.org import ROLE_LABELS_ZH
from domain.workcal import WorkingCalendar

ONE_DAY = dt.timedelta(days=1)
CLASSIFICATION_DAY = 3
CN_NUMBERS = "一二三四"


@dataclass(frozen=True)
class DutyPlan:
    """One duty to have per unit of ``unit_kind`` (org units with a user of ``role``)."""

    kind: str
    period: str
    title: str
    role: str
    unit_kind: str
    due_on: dt.date


def last_working_day(year: int, month: int, cal: WorkingCalendar) -> dt.date:
    day = dt.date(year, month, gregorian.monthrange(year, month)[1])
    while not cal.is_working_day(day):
        day -= ONE_DAY
    return day


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _quarterly(today: dt.date, cal: WorkingCalendar) -> DutyPlan:
    q = (today.month - 1) // 3 + 1
    return DutyPlan(
        "quarterly_adjustment", f"{today.year}-Q{q}",
        f"{today.year}年第{CN_NUMBERS[q - 1]}季度送货线路、订货周期和拜访周期调整",
        "delivery_dept", "city", last_working_day(today.year, q * 3, cal),
    )  # fmt: skip


def _half_year(today: dt.date, cal: WorkingCalendar) -> DutyPlan:
    h = 1 if today.month <= 6 else 2
    return DutyPlan(
        "static_review", f"{today.year}-H{h}",
        f"{today.year}年{'上' if h == 1 else '下'}半年静态信息核查",
        "county_dept", "county", last_working_day(today.year, h * 6, cal),
    )  # fmt: skip


def _monthly_check(today: dt.date, cal: WorkingCalendar) -> DutyPlan:
    return DutyPlan(
        "monthly_check", f"{today:%Y-%m}", f"{today.year}年{today.month}月市场经理档案检查",
        "market_manager", "market_area", last_working_day(today.year, today.month, cal),
    )  # fmt: skip


def classification_due(year: int, month: int, cal: WorkingCalendar) -> dt.date:
    """The 3rd of the month, or the next working day when the 3rd is not one."""
    return cal.add_working_days(dt.date(year, month, CLASSIFICATION_DAY), 0)


def _classification(today: dt.date, cal: WorkingCalendar) -> DutyPlan:
    year, month = today.year, today.month
    if today > classification_due(year, month, cal):
        year, month = _next_month(year, month)
    return DutyPlan(
        "classification_table", f"{year}-{month:02d}", f"{year}年{month}月分类调整表",
        "county_dept", "county", classification_due(year, month, cal),
    )  # fmt: skip


DUTY_KINDS: dict[str, tuple[str, Callable[[dt.date, WorkingCalendar], DutyPlan]]] = {
    "quarterly_adjustment": ("线路、订货周期、拜访周期季度调整", _quarterly),
    "static_review": ("静态信息半年核查", _half_year),
    "monthly_check": ("市场经理月度检查", _monthly_check),
    "classification_table": ("分类调整表", _classification),
}


def due_duties(today: dt.date, cal: WorkingCalendar) -> tuple[list[DutyPlan], list[str]]:
    """The duties of the periods ``today`` falls in, and messages for the skipped ones."""
    plans, problems = [], []
    for _label, plan in DUTY_KINDS.values():
        try:
            plans.append(plan(today, cal))
        except DomainError as err:
            if err.code != CALENDAR_NOT_COVERED:
                raise
            problems.append(err.message)
    return plans, problems


def insert_duties(session: Session, plans: list[DutyPlan]) -> int:
    """Insert the planned duties that do not exist yet; the number inserted."""
    created = 0
    for p in plans:
        has_user = exists().where(
            User.org_unit_id == OrgUnit.id, User.role == p.role, User.is_active.is_(True)
        )
        rows = select(
            literal(p.kind, Text), literal(p.period, Text), literal(p.title, Text),
            literal(p.role, Text), OrgUnit.id, literal(p.due_on, Date),
        ).where(OrgUnit.kind == p.unit_kind, has_user)  # fmt: skip
        stmt = (
            pg_insert(Duty)
            .from_select(["kind", "period", "title", "role", "org_unit_id", "due_on"], rows)
            .on_conflict_do_nothing(index_elements=["kind", "period", "org_unit_id"])
            .returning(Duty.id)
        )
        created += len(session.execute(stmt).all())
    return created


def generate_duties(session: Session, *, today: dt.date, calendar: WorkingCalendar) -> int:
    """Create the duties of ``today``'s periods (idempotent); the number created."""
    plans, _ = due_duties(today, calendar)
    return insert_duties(session, plans)


def units_under(root_id: int) -> Select[tuple[int]]:
    """The ids of the org unit ``root_id`` and of all units below it."""
    tree = select(OrgUnit.id).where(OrgUnit.id == root_id).cte("units_under", recursive=True)
    tree = tree.union_all(select(OrgUnit.id).where(OrgUnit.parent_id == tree.c.id))
    return select(tree.c.id)


def complete_duty(session: Session, principal: Principal, duty_id: int, now: dt.datetime) -> Duty:
    """Mark a duty done: only a user of its role in its org unit (or a unit above it)."""
    duty = session.scalar(
        select(Duty)
        .where(Duty.id == duty_id, Duty.org_unit_id.in_(units_under(principal.org_unit_id)))
        .with_for_update()
    )
    if duty is None:
        raise DomainError(NOT_FOUND, "找不到该任务，或不在您的管辖范围内", "id")
    if duty.role != principal.role:
        who = ROLE_LABELS_ZH.get(duty.role, duty.role)
        raise DomainError(FORBIDDEN, f"任务「{duty.title}」由{who}办理", "id")
    if duty.done_at is not None:
        raise DomainError(INVALID, f"任务「{duty.title}」已于 {duty.done_at:%Y-%m-%d} 完成", "id")
    duty.done_at, duty.done_by_id = now, principal.user_id
    session.flush()
    return duty
