"""Calendar years entered in the admin: every field checked before anything is written,
only IT may enter one, and once entered the year reaches every default calendar of the
process (deadlines that ran into an uncovered year are computed). The dates below are a
test's, not a published schedule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.errors import CALENDAR_NOT_COVERED, FORBIDDEN, DomainError, ValidationFailed
from domain.models import CalendarYear
from domain.tickets.engine import default_calendar
from domain.workcal.store import enter_year, entered_years, in_force, parse_year
from domain.workcal.stored import STORED
from tests.domain.conftest import PrincipalFor

HOLIDAYS = "2027-01-01\n2027-02-06~2027-02-12, 2027-10-01~2027-10-07"
WORKDAYS = "2027-02-14 2027-10-09"


@pytest.fixture
def stored(city: Session) -> Iterator[None]:
    """The process's calendars read the years of this test's (uncommitted) session."""
    previous = STORED.install(lambda: in_force(city))
    yield
    STORED.install(previous)


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CalendarYear)) or 0


@pytest.mark.parametrize(
    ("year", "source", "holidays", "workdays", "complete", "expected"),
    [
        ("27", "文号", HOLIDAYS, "", True, [("year", "INVALID")]),
        ("2027", " ", HOLIDAYS, "", True, [("source", "REQUIRED")]),
        ("2027", "文号", "", "", True, [("holidays", "REQUIRED")]),
        ("2027", "文号", "2027-13-01", "", True,
         [("holidays", "INVALID_FORMAT"), ("holidays", "REQUIRED")]),
        ("2027", "文号", "2026-12-31", "", True,
         [("holidays", "INVALID"), ("holidays", "REQUIRED")]),
        ("2027", "文号", "2027-02-12~2027-02-06", "", True,
         [("holidays", "INVALID_FORMAT"), ("holidays", "REQUIRED")]),
        ("2027", "文号", HOLIDAYS, "2027-02-15", True, [("workdays", "INVALID")]),  # a Monday
        ("2027", "文号", "2027-02-13", "2027-02-13", True, [("workdays", "INVALID")]),
        ("2027", "文号", HOLIDAYS, WORKDAYS, False, [("complete", "INVALID")]),
    ],
)  # fmt: skip
def test_every_bad_entry_is_refused_with_its_field_and_nothing_written(
    city: Session, year: str, source: str, holidays: str, workdays: str, complete: bool,
    expected: list[tuple[str, str]],
) -> None:  # fmt: skip
    before = _count(city)
    with pytest.raises(ValidationFailed) as refused:
        parse_year(year, source, holidays, workdays, complete)
    assert [(e.field, e.code) for e in refused.value.errors] == expected
    assert _count(city) == before


def test_only_it_enters_a_year(city: Session, principal_for: PrincipalFor) -> None:
    entry = parse_year("2027", "国办发明电〔2026〕X号（测试）", HOLIDAYS, WORKDAYS, True)
    before = _count(city)
    with pytest.raises(DomainError) as refused:
        enter_year(city, principal_for("market_dept"), entry)
    assert refused.value.code == FORBIDDEN
    assert _count(city) == before


def test_an_entered_year_reaches_the_default_calendars(
    city: Session, principal_for: PrincipalFor, stored: None
) -> None:
    calendar = default_calendar()
    with pytest.raises(DomainError) as uncovered:
        calendar.is_working_day(dt.date(2027, 1, 4))
    assert uncovered.value.code == CALENDAR_NOT_COVERED
    assert "工作日历" in uncovered.value.message
    # when IT enters 2027
    entry = parse_year("2027", "国办发明电〔2026〕X号（测试）", HOLIDAYS, WORKDAYS, True)
    row = enter_year(city, principal_for("it_admin"), entry, note="测试")
    # then the same calendar answers for it at once (the miss asks the loader again)
    assert calendar.is_working_day(dt.date(2027, 1, 4))  # a Monday
    assert not calendar.is_working_day(dt.date(2027, 1, 1))  # listed
    assert not calendar.is_working_day(dt.date(2027, 2, 8))  # inside a listed range
    assert calendar.is_working_day(dt.date(2027, 2, 14))  # a swapped Sunday
    assert not calendar.is_working_day(dt.date(2027, 1, 9))  # an ordinary Saturday
    # a deadline that ran into 2027 is computed: 5 working days after 2026-12-29
    assert calendar.add_working_days(dt.date(2026, 12, 29), 5) == dt.date(2027, 1, 6)
    (listed,) = [e for e in entered_years(city) if e.id == row.id]
    assert (listed.year, listed.complete, len(listed.holidays)) == (2027, True, 15)


def test_a_correction_is_a_new_row_and_the_latest_is_in_force(
    city: Session, principal_for: PrincipalFor, stored: None
) -> None:
    it = principal_for("it_admin")
    enter_year(city, it, parse_year("2027", "第一次", HOLIDAYS, WORKDAYS, True))
    calendar = default_calendar()
    assert not calendar.is_working_day(dt.date(2027, 10, 7))
    enter_year(city, it, parse_year("2027", "更正", "2027-01-01 2027-10-01~2027-10-06", "", True))
    STORED.refresh(within=0)  # another request, later
    assert calendar.is_working_day(dt.date(2027, 10, 7))
    _, years = in_force(city)
    assert years[2027].source == "更正"
    with pytest.raises(Exception, match="append-only"):
        city.execute(text("UPDATE calendar_years SET source = 'x'"))
