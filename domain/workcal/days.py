"""Working days of the Chinese calendar: statutory holidays and swapped weekends (调休).

The ``chinese_calendar`` package answers for the years it covers; the overrides file
(:mod:`domain.workcal.overrides`) corrects it and adds the years it does not cover yet, and
the years IT entered in the admin (:mod:`domain.workcal.stored`) come before both. A day
none knows raises ``DomainError(CALENDAR_NOT_COVERED)``: never a guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import chinese_calendar

from domain.errors import CALENDAR_NOT_COVERED, DomainError
from domain.workcal.overrides import YearOverride
from domain.workcal.stored import MISS_RETRY_S, STORED

ONE_DAY = dt.timedelta(days=1)


def not_covered(year: int) -> DomainError:
    return DomainError(
        CALENDAR_NOT_COVERED,
        f"工作日历尚未包含{year}年的节假日安排，无法计算工作日期限。"
        f"请信息科在管理后台「工作日历」中录入国务院办公厅公布的{year}年节假日安排。",
        field=None,
    )


def library_is_workday(day: dt.date) -> bool | None:
    """The package's answer, or None for a year it does not cover."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


class WorkingDays:
    """Which dates are working days; answers are cached per date. With ``stored``, the
    years IT entered in the admin (``domain.workcal.stored``) come first."""

    def __init__(self, overrides: Mapping[int, YearOverride], *, stored: bool = False) -> None:
        self._overrides = dict(overrides)
        self._stored = STORED if stored else None
        self._generation = -1
        self._cache: dict[dt.date, bool] = {}

    def _override(self, year: int) -> YearOverride | None:
        found = self._stored.get(year) if self._stored is not None else None
        return found if found is not None else self._overrides.get(year)

    def covers_year(self, year: int) -> bool:
        """True when every date of ``year`` can be answered (overrides or the package)."""
        self._sync()
        if self._covers(year):
            return True
        if self._stored is not None:  # entered in another process a moment ago?
            self._stored.refresh(within=MISS_RETRY_S)
            self._sync()
        return self._covers(year)

    def _covers(self, year: int) -> bool:
        return self._source(year)[0] != "none"

    def _source(self, year: int) -> tuple[str, str]:
        """Where ``year``'s days come from: the year entered in the admin ("admin") or in
        the overrides file ("file"), complete or correcting the package; the package alone
        ("package"); else "none" (not covered). With the notice it names, if any."""
        library = library_is_workday(dt.date(year, 1, 1)) is not None
        override = self._override(year)
        if override is not None and (override.complete or library):
            entered = self._stored is not None and self._stored.get(year) is override
            return ("admin" if entered else "file"), override.source
        return ("package", "chinese-calendar") if library else ("none", "")

    def source_of(self, year: int) -> tuple[str, str]:
        """``_source`` as the calendar sees it now (the entered years refreshed)."""
        self._sync()
        return self._source(year)

    def _sync(self) -> None:
        """Drop the cached answers when the stored years changed (checked every ``TTL_S``)."""
        if self._stored is None:
            return
        self._stored.refresh()
        if self._generation != self._stored.generation:
            self._generation = self._stored.generation
            self._cache.clear()

    def is_working_day(self, day: dt.date) -> bool:
        self._sync()
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        try:
            answer = self._decide(day)
        except DomainError:
            if self._stored is None:
                raise
            self._stored.refresh(within=MISS_RETRY_S)
            self._sync()
            answer = self._decide(day)
        self._cache[day] = answer
        return answer

    def _decide(self, day: dt.date) -> bool:
        override = self._override(day.year)
        decided = override.lookup(day) if override is not None else None
        if decided is None:
            decided = library_is_workday(day)
        if decided is None:
            raise not_covered(day.year)
        return decided

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        day += ONE_DAY
        while not self.is_working_day(day):
            day += ONE_DAY
        return day

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (``day`` itself is not counted).

        ``n == 0`` gives ``day`` when it is a working day, else the next working day (the
        earliest working day on or after ``day``). So from a Saturday both 0 and 1 give the
        Monday: "within N working days" counts the working days that follow the event.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        if n == 0:
            return day if self.is_working_day(day) else self.next_working_day(day)
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """The number of working days ``d`` with ``a < d <= b``; negative when ``b < a``.

        For working days ``a`` and ``b`` it inverts :meth:`add_working_days`:
        ``working_days_between(a, add_working_days(a, n)) == n``.
        """
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        day = a + ONE_DAY
        while day <= b:
            count += self.is_working_day(day)
            day += ONE_DAY
        return count
