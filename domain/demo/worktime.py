"""A simple working-time approximation for demo due dates: 09:00-17:00, Monday to Friday.

The real working calendar (holidays and swapped weekends 调休) belongs to the tickets
module; demo data only needs plausible due times.
"""

from __future__ import annotations

import datetime as dt

DAY_START = dt.time(9, 0)
DAY_END = dt.time(17, 0)
MINUTES_PER_DAY = 8 * 60


def _next_morning(t: dt.datetime) -> dt.datetime:
    day = t.date() + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, DAY_START, tzinfo=t.tzinfo)


def into_working_time(t: dt.datetime) -> dt.datetime:
    """``t`` if it is within working hours, else the start of the next working period."""
    if t.weekday() >= 5 or t.time() >= DAY_END:
        return _next_morning(t)
    if t.time() < DAY_START:
        return dt.datetime.combine(t.date(), DAY_START, tzinfo=t.tzinfo)
    return t


def add_working_days(start: dt.datetime, days: float) -> dt.datetime:
    """``start`` plus ``days`` working days of 8 working hours (weekends and nights skipped)."""
    minutes = round(days * MINUTES_PER_DAY)
    t = into_working_time(start)
    while True:
        end = dt.datetime.combine(t.date(), DAY_END, tzinfo=t.tzinfo)
        available = int((end - t).total_seconds() // 60)
        if minutes <= available:
            return t + dt.timedelta(minutes=minutes)
        minutes -= available
        t = _next_morning(t)


def working_days_before(end: dt.datetime, days: int, at: dt.time) -> dt.datetime:
    """The working day ``days`` working days before ``end``'s date, at time ``at``."""
    day = end.date()
    left = days
    while left > 0:
        day -= dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return dt.datetime.combine(day, at, tzinfo=end.tzinfo)
