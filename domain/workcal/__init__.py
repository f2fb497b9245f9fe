"""The Chinese working calendar with working hours, for time limits and deadlines.

Working days follow the statutory holidays and swapped working weekends (调休) of the
``chinese_calendar`` package, corrected and extended by ``overrides.toml`` in this package
(IT adds each year's State Council schedule there). Working time runs through the working
periods of those days (default 08:30-12:00 and 14:00-17:30, Asia/Shanghai).

Build one :class:`WorkingCalendar` from configuration at start and pass it down::

    cal = WorkingCalendar()                        # packaged overrides, default hours
    due = cal.add_working_time(opened_at, Decimal("0.5"), "working_day")
    overdue, remaining = cal.due_state(due, now)

A date that neither the package nor the overrides cover raises
``DomainError(CALENDAR_NOT_COVERED)``.
"""

from domain.workcal.overrides import (
    DEFAULT_OVERRIDES_FILE,
    OverridesError,
    YearOverride,
    load_overrides,
)
from domain.workcal.working_calendar import (
    DEFAULT_PERIODS,
    DEFAULT_TZ,
    DueState,
    Period,
    WorkingCalendar,
    WorkUnit,
)

__all__ = [
    "DEFAULT_OVERRIDES_FILE",
    "DEFAULT_PERIODS",
    "DEFAULT_TZ",
    "DueState",
    "OverridesError",
    "Period",
    "WorkUnit",
    "WorkingCalendar",
    "YearOverride",
    "load_overrides",
]
