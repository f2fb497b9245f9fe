"""Working time: the working days of :mod:`domain.workcal.days` times the working periods.

Time limits of ticket steps are amounts of *working time*:

- ``"working_day"``: ``amount`` times one working day's total working time (7 h with the
  default 08:30-12:00 and 14:00-17:30). So 0.5 working day is 3.5 h of working time, and
  1 working day started at 16:00 ends at 16:00 on the next working day.
- ``"half_hour"`` (the emergency clock, 应急 0.5 小时): ``amount`` times 30 minutes of
  *working* time, through the same periods. An emergency opened at 17:20 with one half
  hour is due at 08:50 on the next working day: the company has no night shift to answer
  it, and counting wall-clock time would make every evening ticket overdue by morning.

A start outside working time begins counting at the next period start; a limit that ends
exactly at a period end is due at that end (12:00, not 14:00). All datetimes given must
be timezone-aware; all datetimes returned are in the calendar's timezone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from domain.workcal.days import WorkingDays
from domain.workcal.overrides import DEFAULT_OVERRIDES_FILE, load_overrides

Period = tuple[dt.time, dt.time]
WorkUnit = Literal["working_day", "half_hour"]

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_PERIODS: tuple[Period, ...] = (
    (dt.time(8, 30), dt.time(12, 0)),
    (dt.time(14, 0), dt.time(17, 30)),
)
HALF_HOUR = dt.timedelta(minutes=30)
ZERO = dt.timedelta(0)


class DueState(NamedTuple):
    """``overdue`` when ``now`` is past ``due``; ``remaining`` working time (negative after)."""

    overdue: bool
    remaining: dt.timedelta


def check_periods(periods: tuple[Period, ...]) -> tuple[Period, ...]:
    """Non-empty, each start < end, in order and not overlapping; naive times."""
    if not periods:
        raise ValueError("at least one working period is needed")
    previous_end: dt.time | None = None
    for start, end in periods:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("working periods are wall-clock times without a timezone")
        if not start < end:
            raise ValueError(f"working period {start}-{end} ends before it starts")
        if previous_end is not None and start < previous_end:
            raise ValueError(f"working period {start}-{end} overlaps or is out of order")
        previous_end = end
    return tuple(periods)


def as_decimal(amount: Decimal | float | int) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, Decimal | float | int):
        raise TypeError("amount must be a Decimal, float or int")
    value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    if not value.is_finite() or value < 0:
        raise ValueError("amount must be a finite number >= 0")
    return value


class WorkingCalendar(WorkingDays):
    """The Chinese working calendar with working hours; build once from settings, share."""

    def __init__(
        self,
        overrides_path: Path | None = DEFAULT_OVERRIDES_FILE,
        periods: tuple[Period, ...] = DEFAULT_PERIODS,
        tz: dt.tzinfo = DEFAULT_TZ,
        *,
        stored: bool = False,
    ) -> None:
        super().__init__(load_overrides(overrides_path), stored=stored)
        self.periods = check_periods(periods)
        self.tz = tz
        self.day_total = sum((_span(s, e) for s, e in self.periods), ZERO)

    # -- amounts -----------------------------------------------------------------------------

    def working_duration(self, amount: Decimal | float | int, unit: WorkUnit) -> dt.timedelta:
        """The working time ``amount`` ``unit`` stand for, to the microsecond."""
        per_unit = {"working_day": self.day_total, "half_hour": HALF_HOUR}.get(unit)
        if per_unit is None:
            raise ValueError(f"unknown unit {unit!r}")
        micros = as_decimal(amount) * (per_unit // dt.timedelta(microseconds=1))
        return dt.timedelta(microseconds=int(micros.to_integral_value(ROUND_HALF_EVEN)))

    # -- working time ------------------------------------------------------------------------

    def add_working_time(
        self, start: dt.datetime, amount: Decimal | float | int, unit: WorkUnit
    ) -> dt.datetime:
        """``start`` plus ``amount`` ``unit`` of working time (see the module docstring)."""
        return self.add_duration(start, self.working_duration(amount, unit))

    def add_duration(self, start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        """``start`` plus ``duration`` of working time, counted through working periods."""
        if duration < ZERO:
            raise ValueError("duration must be >= 0")
        remaining = duration
        t = self._local(start)
        day = t.date()
        while True:
            if self.is_working_day(day):
                for begin, end in self._intervals(day):
                    if end <= t:
                        continue
                    begin = max(begin, t)
                    if remaining <= end - begin:
                        return begin + remaining
                    remaining -= end - begin
            day = self.next_working_day(day)

    def working_time_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Working time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        a, b = self._local(a), self._local(b)
        if b < a:
            return -self.working_time_between(b, a)
        total = ZERO
        if a == b:
            return total
        for begin, end in self._working_intervals(a.date(), b.date()):
            lo, hi = max(begin, a), min(end, b)
            if lo < hi:
                total += hi - lo
        return total

    def due_state(self, due: dt.datetime, now: dt.datetime) -> DueState:
        """Whether ``now`` is past ``due``, and the working time left (negative: overdue by)."""
        return DueState(self._local(now) > self._local(due), self.working_time_between(now, due))

    def is_working_time(self, t: dt.datetime) -> bool:
        """True inside a working period of a working day (start included, end excluded)."""
        t = self._local(t)
        return self.is_working_day(t.date()) and any(
            begin <= t < end for begin, end in self._intervals(t.date())
        )

    # -- helpers -----------------------------------------------------------------------------

    def _local(self, t: dt.datetime) -> dt.datetime:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError("datetimes must be timezone-aware")
        return t.astimezone(self.tz)

    def _intervals(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        return [
            (dt.datetime.combine(day, s, self.tz), dt.datetime.combine(day, e, self.tz))
            for s, e in self.periods
        ]

    def _working_intervals(
        self, first: dt.date, last: dt.date
    ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        day = first
        while day <= last:
            if self.is_working_day(day):
                yield from self._intervals(day)
            day += dt.timedelta(days=1)


def _span(start: dt.time, end: dt.time) -> dt.timedelta:
    base = dt.date(2000, 1, 3)
    return dt.datetime.combine(base, end) - dt.datetime.combine(base, start)
