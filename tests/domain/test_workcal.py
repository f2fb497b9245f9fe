"""The Chinese working calendar: holidays and 调休 from chinese_calendar, overrides, hours."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import CALENDAR_NOT_COVERED, DomainError
from domain.workcal import (
    DEFAULT_OVERRIDES_FILE,
    DEFAULT_TZ,
    OverridesError,
    WorkingCalendar,
    load_overrides,
)

TZ = DEFAULT_TZ
UTC = dt.UTC
CAL = WorkingCalendar()
H = dt.timedelta(hours=1)
D = dt.date


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=TZ)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overrides.toml"
    path.write_text(text, encoding="utf-8")
    return path


# Test data only, NOT the State Council's 2027 schedule (not published when this was written).
FICTIONAL_2027 = """
[years.2027]
source = "test fixture"
holidays = ["2027-01-01", "2027-01-02", "2027-01-03"]
workdays = []
complete = true
"""


# -- working days from the library -------------------------------------------------------------


def test_national_day_2025_follows_the_library() -> None:
    # Given the default calendar (library data; the shipped overrides list no year)
    # When / Then 2025-10-01..08 are off, and Sunday 09-28 and Saturday 10-11 are worked (调休)
    assert [CAL.is_working_day(D(2025, 10, d)) for d in range(1, 9)] == [False] * 8
    assert CAL.is_working_day(D(2025, 9, 28)) and D(2025, 9, 28).weekday() == 6
    assert CAL.is_working_day(D(2025, 10, 11)) and D(2025, 10, 11).weekday() == 5
    assert CAL.is_working_day(D(2025, 10, 9)) and not CAL.is_working_day(D(2025, 10, 12))


def test_spring_festival_2026_follows_the_library() -> None:
    # Given the 2026 Spring Festival (02-15..23 off, Saturdays 02-14 and 02-28 worked)
    # When / Then
    assert not any(CAL.is_working_day(D(2026, 2, d)) for d in range(15, 24))
    assert CAL.is_working_day(D(2026, 2, 14)) and CAL.is_working_day(D(2026, 2, 28))
    assert CAL.next_working_day(D(2026, 2, 14)) == D(2026, 2, 24)


def test_add_working_days_skips_the_holiday_and_counts_the_swapped_saturday() -> None:
    # Given Monday 2025-09-29, before National Day
    # When 5 working days are added
    due = CAL.add_working_days(D(2025, 9, 29), 5)
    # Then 09-30, 10-09, 10-10, Saturday 10-11 and Monday 10-13 are counted
    assert due == D(2025, 10, 13)
    assert CAL.working_days_between(D(2025, 9, 29), due) == 5
    assert CAL.working_days_between(due, D(2025, 9, 29)) == -5
    assert CAL.next_working_day(D(2025, 9, 30)) == D(2025, 10, 9)


def test_zero_working_days_is_the_day_itself_or_the_next_working_day() -> None:
    # Given a working day, a holiday, and a Saturday before a swapped working Sunday
    # When 0 working days are added / Then the earliest working day on or after it
    assert CAL.add_working_days(D(2025, 9, 30), 0) == D(2025, 9, 30)
    assert CAL.add_working_days(D(2025, 10, 3), 0) == D(2025, 10, 9)
    assert CAL.add_working_days(D(2025, 9, 27), 0) == D(2025, 9, 28)
    # and 1 working day from a non-working day is that same next working day
    assert CAL.add_working_days(D(2025, 10, 3), 1) == D(2025, 10, 9)
    with pytest.raises(ValueError):
        CAL.add_working_days(D(2025, 9, 30), -1)


# -- working time ------------------------------------------------------------------------------


def test_one_working_day_from_16_00_ends_at_16_00_on_the_next_working_day() -> None:
    # Given a start at 16:00 on the eve of National Day
    # When 1 working day is added
    # Then it ends at 16:00 on the next working day, 2025-10-09
    assert CAL.add_working_time(at(2025, 9, 30, 16), 1, "working_day") == at(2025, 10, 9, 16)
    assert CAL.day_total == 7 * H


def test_half_a_working_day_is_three_and_a_half_hours_of_working_time() -> None:
    # Given the default hours 08:30-12:00 and 14:00-17:30
    # When 0.5 working day is added / Then 3.5 h of working time, ending at a period end
    assert CAL.add_working_time(at(2025, 9, 30, 8, 30), Decimal("0.5"), "working_day") == at(
        2025, 9, 30, 12
    )
    assert CAL.add_working_time(at(2025, 9, 30, 10), 0.5, "working_day") == at(2025, 9, 30, 15, 30)
    assert CAL.working_duration(0.5, "working_day") == 3.5 * H


def test_a_start_outside_working_time_counts_from_the_next_period_start() -> None:
    # Given starts before work, at lunch, at a period end, after work and on a holiday
    # When / Then counting begins at the next period start
    assert CAL.add_working_time(at(2025, 9, 30, 7), 1, "half_hour") == at(2025, 9, 30, 9)
    assert CAL.add_working_time(at(2025, 9, 30, 12, 30), 1, "half_hour") == at(2025, 9, 30, 14, 30)
    assert CAL.add_working_time(at(2025, 9, 30, 12), 0, "half_hour") == at(2025, 9, 30, 14)
    assert CAL.add_working_time(at(2025, 10, 3, 10), 1, "working_day") == at(2025, 10, 9, 17, 30)


def test_the_emergency_half_hour_runs_on_working_time_only() -> None:
    # Given an emergency step (0.5 hour) opened just before the end of work
    # When one half hour is added
    # Then 10 minutes count today and 20 minutes on the next working day
    assert CAL.add_working_time(at(2025, 9, 30, 17, 20), 1, "half_hour") == at(2025, 10, 9, 8, 50)
    assert CAL.add_working_time(at(2025, 9, 30, 11, 45), 1, "half_hour") == at(2025, 9, 30, 14, 15)
    assert CAL.add_working_time(at(2025, 9, 30, 9), 3, "half_hour") == at(2025, 9, 30, 10, 30)


def test_other_timezones_are_converted_and_naive_datetimes_refused() -> None:
    # Given 08:00 UTC (16:00 in Shanghai)
    start = dt.datetime(2025, 9, 30, 8, tzinfo=UTC)
    # When 1 working day is added / Then the result is in Shanghai time
    end = CAL.add_working_time(start, 1, "working_day")
    assert end == at(2025, 10, 9, 16) and end.tzinfo == TZ
    with pytest.raises(ValueError):
        CAL.add_working_time(dt.datetime(2025, 9, 30, 16), 1, "working_day")
    with pytest.raises(ValueError):
        CAL.add_working_time(start, -1, "working_day")


def test_working_time_between_and_due_state_count_working_time_only() -> None:
    # Given a step due at 10:00 on the first working day after National Day
    due = at(2025, 10, 9, 10)
    # When it is 16:00 before the holiday / Then 1.5 h + 1.5 h remain, not overdue
    assert CAL.working_time_between(at(2025, 9, 30, 16), due) == 3 * H
    assert CAL.due_state(due, at(2025, 9, 30, 16)) == (False, 3 * H)
    # When it is 15:00 on that day / Then it is overdue by 3 h of working time (lunch excluded)
    overdue, remaining = CAL.due_state(due, at(2025, 10, 9, 15))
    assert overdue and remaining == -3 * H
    assert CAL.due_state(due, due) == (False, dt.timedelta(0))


def test_configured_hours_define_the_working_day() -> None:
    # Given one period 09:00-17:00 (8 h) in a fixed UTC+8 zone
    cal = WorkingCalendar(
        periods=((dt.time(9), dt.time(17)),), tz=dt.timezone(dt.timedelta(hours=8))
    )
    start = dt.datetime(2025, 9, 30, 13, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    # When 1 working day is added / Then 13:00 on the next working day
    assert cal.day_total == 8 * H
    assert cal.add_working_time(start, 1, "working_day") == at(2025, 10, 9, 13)
    # and malformed periods are refused
    nine, eleven, twelve, one = dt.time(9), dt.time(11), dt.time(12), dt.time(13)
    for bad in ((), ((twelve, nine),), ((nine, twelve), (eleven, one))):
        with pytest.raises(ValueError):
            WorkingCalendar(periods=bad)


# -- years not covered, overrides ---------------------------------------------------------------


def test_a_deadline_reaching_an_uncovered_year_is_refused(tmp_path: Path) -> None:
    # Given no overrides (the library covers 2004-2026) and an empty overrides file
    for cal in (WorkingCalendar(overrides_path=None), WorkingCalendar(write(tmp_path, ""))):
        # When a ticket opened on 2026-12-30 at 16:00 gets 2 working days
        with pytest.raises(DomainError) as err:
            cal.add_working_time(at(2026, 12, 30, 16), 2, "working_day")
        # Then CALENDAR_NOT_COVERED names 2027 and the overrides file, without a field
        assert err.value.code == CALENDAR_NOT_COVERED and err.value.field is None
        assert "2027年" in err.value.message
        assert "「工作日历」" in err.value.message
        assert not cal.covers_year(2027) and cal.covers_year(2026)


def test_an_overrides_file_extends_the_calendar_into_the_next_year(tmp_path: Path) -> None:
    # Given an overrides file with a (fictional) complete 2027
    cal = WorkingCalendar(write(tmp_path, FICTIONAL_2027))
    # When a ticket opened on 2026-12-30 at 16:00 gets 2 working days
    due = cal.add_working_time(at(2026, 12, 30, 16), 2, "working_day")
    # Then 1.5 h on 12-30, 7 h on 12-31, 5.5 h on Monday 2027-01-04 (01-01..03 off)
    assert due == at(2027, 1, 4, 16)
    assert cal.covers_year(2027)
    assert cal.working_time_between(at(2026, 12, 30, 16), due) == 14 * H


def test_a_swapped_working_weekend_from_the_overrides_counts(tmp_path: Path) -> None:
    # Given a complete 2027 where Saturday 01-02 is a working day
    path = write(tmp_path, FICTIONAL_2027.replace('"2027-01-02", ', "").replace(
        "workdays = []", 'workdays = ["2027-01-02"]'))  # fmt: skip
    cal = WorkingCalendar(path)
    # When / Then the Saturday is worked, the Sunday is not
    assert cal.is_working_day(D(2027, 1, 2)) and not cal.is_working_day(D(2027, 1, 3))
    assert cal.add_working_time(at(2026, 12, 30, 16), 2, "working_day") == at(2027, 1, 2, 16)


def test_an_incomplete_override_year_decides_only_its_listed_dates(tmp_path: Path) -> None:
    # Given 2027 with only New Year's Day listed and not marked complete
    cal = WorkingCalendar(write(tmp_path, '[years.2027]\nholidays = ["2027-01-01"]\n'))
    # When / Then the listed date is known, the others are refused
    assert not cal.is_working_day(D(2027, 1, 1))
    with pytest.raises(DomainError) as err:
        cal.is_working_day(D(2027, 1, 4))
    assert err.value.code == CALENDAR_NOT_COVERED
    assert not cal.covers_year(2027)


def test_overrides_correct_the_library_for_a_covered_year(tmp_path: Path) -> None:
    # Given a correction for 2025 (not complete): 10-09 off, Sunday 10-12 worked
    path = write(tmp_path, '[years.2025]\nholidays = [2025-10-09]\nworkdays = ["2025-10-12"]\n')
    cal = WorkingCalendar(path)
    # When / Then the listed dates follow the file, the rest the library
    assert not cal.is_working_day(D(2025, 10, 9)) and cal.is_working_day(D(2025, 10, 12))
    assert cal.is_working_day(D(2025, 10, 11)) and not cal.is_working_day(D(2025, 10, 1))
    # Given 2025 restated as complete with no holidays / Then the library is not consulted
    cal = WorkingCalendar(write(tmp_path, "[years.2025]\ncomplete = true\n"))
    assert cal.is_working_day(D(2025, 10, 1)) and not cal.is_working_day(D(2025, 10, 11))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[years.2027]\nholidays = ["2028-01-01"]', "not in 2027"),
        ('[years.2027]\nholidays = ["2027-13-01"]', "is not a date"),
        ('[years.2027]\nholidays = ["2027-01-01"]\nworkdays = ["2027-01-01"]', "both"),
        ("[years.2027]\nholiday = []", "unknown keys"),
        ('[years.27]\nholidays = ["2027-01-01"]', "four-digit year"),
        ("[years.2027]\ncomplete = 1", "complete must be"),
        ("[calendar]\nx = 1", "only [years"),
        ("[years.2027\n", "overrides.toml"),
    ],
)
def test_a_malformed_overrides_file_is_refused_naming_the_problem(
    tmp_path: Path, text: str, fragment: str
) -> None:
    # Given a malformed overrides file / When it is loaded / Then OverridesError says why
    with pytest.raises(OverridesError, match=fragment.replace("[", r"\[")):
        WorkingCalendar(write(tmp_path, text))


def test_the_shipped_overrides_file_loads() -> None:
    # Given the file in the repository / When loaded / Then every year in it is well-formed
    years = load_overrides(DEFAULT_OVERRIDES_FILE)
    assert all(y.year == year for year, y in years.items())
    assert CAL.covers_year(2026)


# -- properties --------------------------------------------------------------------------------

starts = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),
    max_value=dt.datetime(2026, 11, 30),
    timezones=st.sampled_from([TZ, UTC, ZoneInfo("Europe/London")]),
)
day_amounts = st.decimals(min_value=0, max_value=10, places=3)
half_hours = st.integers(min_value=0, max_value=60)


def _at_period_end(t: dt.datetime) -> bool:
    local = t.astimezone(TZ)
    return CAL.is_working_day(local.date()) and any(e == local.time() for _, e in CAL.periods)


@settings(max_examples=200, deadline=None)
@given(start=starts, amount=day_amounts)
def test_property_working_day_amounts_land_in_working_time_and_measure_back(
    start: dt.datetime, amount: Decimal
) -> None:
    # Given a start in 2020-2026 and an amount of working days
    # When it is added
    end = CAL.add_working_time(start, amount, "working_day")
    # Then the end is inside working time or at a period end, and exactly that far away
    assert CAL.is_working_time(end) or _at_period_end(end)
    assert CAL.working_time_between(start, end) == CAL.working_duration(amount, "working_day")
    assert end >= start


@settings(max_examples=200, deadline=None)
@given(start=starts, n=half_hours)
def test_property_half_hours_land_in_working_time_and_measure_back(
    start: dt.datetime, n: int
) -> None:
    # Given a start and a number of emergency half hours / When added
    end = CAL.add_working_time(start, n, "half_hour")
    # Then the end is in working time or at a period end, n x 30 working minutes away
    assert CAL.is_working_time(end) or _at_period_end(end)
    assert CAL.working_time_between(start, end) == n * dt.timedelta(minutes=30)
    assert CAL.working_time_between(end, start) == -n * dt.timedelta(minutes=30)


@settings(max_examples=200, deadline=None)
@given(start=starts, a=day_amounts, b=day_amounts)
def test_property_more_working_time_never_ends_earlier(
    start: dt.datetime, a: Decimal, b: Decimal
) -> None:
    # Given two amounts / When both are added to the same start / Then the order is kept
    lo, hi = sorted((a, b))
    assert CAL.add_working_time(start, lo, "working_day") <= CAL.add_working_time(
        start, hi, "working_day"
    )


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=D(2020, 1, 1), max_value=D(2026, 10, 31)), n=st.integers(0, 30))
def test_property_add_working_days_lands_on_a_working_day_n_working_days_on(
    day: dt.date, n: int
) -> None:
    # Given a date and n / When n working days are added
    end = CAL.add_working_days(day, n)
    # Then the result is a working day, and n working days follow day up to it (n = 0: the
    # day itself when working, else the next working day)
    assert CAL.is_working_day(end)
    if n or CAL.is_working_day(day):
        assert CAL.working_days_between(day, end) == n
    else:
        assert end == CAL.next_working_day(day)
