"""Entering a year's holiday schedule in the admin (工作日历) and reading what is in force.

IT types the State Council's notice as published: the days off (single dates or ranges
like ``2027-02-06~2027-02-12``, one per line or separated by commas) and the weekends that
are working days (调休上班). Everything is checked before anything is written: dates in the
year, no date both off and working, a swapped working day on a weekend, a source named, a
year the package does not know entered whole. A correction is a new row; the latest row of
a year is in force (``calendar_years`` is append-only: who decided stays on record).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.access import Principal
from domain.errors import (
    FORBIDDEN,
    INVALID,
    INVALID_FORMAT,
    REQUIRED,
    DomainError,
    ValidationFailed,
)
from domain.models import CalendarYear, User
from domain.workcal.days import library_is_workday
from domain.workcal.overrides import YearOverride
from domain.workcal.stored import Loader

EDITORS = frozenset({"it_admin"})  # 信息科: the calendar is IT's, as the overrides file was
MAX_SOURCE = 200
_SEPARATORS = re.compile(r"[\s,，、;；]+")
_RANGE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})(?:~|～|至|--|—)(\d{4}-\d{1,2}-\d{1,2})$")
WEEKDAYS_ZH = "一二三四五六日"


@dataclass(frozen=True)
class EnteredYear:
    """A row of ``calendar_years`` as the admin lists it."""

    id: int
    year: int
    source: str
    holidays: tuple[dt.date, ...]
    workdays: tuple[dt.date, ...]
    complete: bool
    entered_by: str
    entered_at: dt.datetime
    note: str | None


def may_edit(principal: Principal) -> bool:
    return principal.role in EDITORS


def _dates(text: str, year: int, field: str) -> tuple[set[dt.date], list[DomainError]]:
    out: set[dt.date] = set()
    errors: list[DomainError] = []
    for token in (t for t in _SEPARATORS.split(text.strip()) if t):
        found = _RANGE.match(token)
        try:
            if found:
                first = dt.date.fromisoformat(_iso(found.group(1)))
                last = dt.date.fromisoformat(_iso(found.group(2)))
                if last < first or (last - first).days > 31:
                    raise ValueError
                days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
            else:
                days = [dt.date.fromisoformat(_iso(token))]
        except ValueError:
            errors.append(DomainError(
                INVALID_FORMAT, f"“{token}”不是日期（YYYY-MM-DD）或日期范围（起~止，至多一个月）",
                field,
            ))  # fmt: skip
            continue
        outside = [d for d in days if d.year != year]
        if outside:
            errors.append(DomainError(INVALID, f"{outside[0].isoformat()} 不在 {year} 年内", field))
            continue
        out.update(days)
    return out, errors


def _iso(text: str) -> str:
    """2027-2-6 as 2027-02-06."""
    y, m, d = text.split("-")
    return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"


def parse_year(
    year_text: str, source: str, holidays_text: str, workdays_text: str, complete: bool
) -> YearOverride:
    """The entered schedule, checked as a whole (``ValidationFailed`` lists every error)."""
    errors: list[DomainError] = []
    year = int(year_text) if year_text.strip().isdigit() else 0
    if not 2000 <= year <= 2100:
        errors.append(DomainError(INVALID, "年份须为 2000 到 2100 之间的四位数", "year"))
        raise ValidationFailed(errors)
    source = source.strip()
    if not source:
        errors.append(DomainError(REQUIRED, "请填写依据（国务院办公厅通知的文号）", "source"))
    elif len(source) > MAX_SOURCE:
        errors.append(DomainError(INVALID, f"依据至多 {MAX_SOURCE} 个字符", "source"))
    holidays, bad = _dates(holidays_text, year, "holidays")
    errors += bad
    workdays, bad = _dates(workdays_text, year, "workdays")
    errors += bad
    if not holidays:
        errors.append(DomainError(REQUIRED, "请填写放假日期", "holidays"))
    weekdays = sorted(d for d in workdays if d.weekday() < 5)
    if weekdays:
        d = weekdays[0]
        errors.append(DomainError(
            INVALID, f"{d.isoformat()} 是星期{WEEKDAYS_ZH[d.weekday()]}，调休上班日应为周末",
            "workdays",
        ))  # fmt: skip
    both = sorted(holidays & workdays)
    if both:
        errors.append(DomainError(
            INVALID, f"{both[0].isoformat()} 既是放假日又是上班日", "workdays"
        ))  # fmt: skip
    if not complete and library_is_workday(dt.date(year, 1, 1)) is None:
        errors.append(DomainError(
            INVALID, f"{year} 年不在日历程序包内，须录入全年安排（勾选“全年安排”）", "complete"
        ))  # fmt: skip
    if errors:
        raise ValidationFailed(errors)
    return YearOverride(year, frozenset(holidays), frozenset(workdays), complete, source)


def enter_year(
    session: Session, principal: Principal, entry: YearOverride, note: str | None = None
) -> CalendarYear:
    """Record the schedule (the caller commits); only ``EDITORS`` may."""
    if not may_edit(principal):
        raise DomainError(FORBIDDEN, "只有信息科可以维护工作日历", "year")
    row = CalendarYear(
        year=entry.year, source=entry.source, holidays=sorted(entry.holidays),
        workdays=sorted(entry.workdays), complete=entry.complete,
        entered_by_id=principal.user_id, note=(note or "").strip() or None,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def in_force(session: Session) -> tuple[int | None, dict[int, YearOverride]]:
    """(stamp, the latest entry of each year): what calendars use."""
    stamp = session.scalar(select(func.max(CalendarYear.id)))
    latest = select(func.max(CalendarYear.id)).group_by(CalendarYear.year)
    rows = session.scalars(select(CalendarYear).where(CalendarYear.id.in_(latest)))
    years = {
        r.year: YearOverride(r.year, frozenset(r.holidays), frozenset(r.workdays), r.complete,
                             r.source)
        for r in rows
    }  # fmt: skip
    return stamp, years


def entered_years(session: Session) -> list[EnteredYear]:
    """Every entry, newest first, with who entered it."""
    rows = session.execute(
        select(CalendarYear, User.display_name)
        .join(User, User.id == CalendarYear.entered_by_id)
        .order_by(CalendarYear.year.desc(), CalendarYear.id.desc())
    )
    return [
        EnteredYear(r.id, r.year, r.source, tuple(r.holidays), tuple(r.workdays), r.complete,
                    name, r.entered_at, r.note)
        for r, name in rows
    ]  # fmt: skip


def loader_for(sessions: sessionmaker[Session]) -> Loader:
    """What the process's calendars call to read the entered years (``stored.STORED``)."""

    def load() -> tuple[int | None, Mapping[int, YearOverride]]:
        with sessions() as session:
            return in_force(session)

    return load
