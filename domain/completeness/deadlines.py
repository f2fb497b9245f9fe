"""The deadline of a new shop's record: complete within 5 working days of joining (一周内录入完整).

``due_on = calendar.add_working_days(joined_on, 5)``; an incomplete shop is *overdue* when
``today > due_on``. Shops that joined before the calendar's first year (2004) are long past
due: their ``due_on`` is None and they are overdue if incomplete.
"""

from __future__ import annotations

import datetime as dt

from domain.errors import CALENDAR_NOT_COVERED, DomainError
from domain.workcal import WorkingCalendar

DUE_WORKING_DAYS = 5


def due_date(
    joined_on: dt.date | None, *, calendar: WorkingCalendar, today: dt.date
) -> dt.date | None:
    """``joined_on`` + 5 working days; None without ``joined_on`` or before the calendar.

    Only a year at least two years before ``today`` may be uncovered (it precedes the
    calendar, and the shop is long past due); otherwise CALENDAR_NOT_COVERED propagates.
    """
    if joined_on is None:
        return None
    try:
        return calendar.add_working_days(joined_on, DUE_WORKING_DAYS)
    except DomainError as exc:
        if exc.code == CALENDAR_NOT_COVERED and joined_on.year < today.year - 1:
            return None
        raise


def overdue_cutoff(*, calendar: WorkingCalendar, today: dt.date) -> dt.date:
    """The last ``joined_on`` whose due date is before ``today``: overdue ⇔ joined on or before.

    ``add_working_days(j, 5)`` never decreases as ``j`` grows, so one date splits the shops.
    """
    joined = today
    while calendar.add_working_days(joined, DUE_WORKING_DAYS) >= today:
        joined -= dt.timedelta(days=1)
    return joined
