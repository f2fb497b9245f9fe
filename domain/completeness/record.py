"""The completeness of one customer's record, computed in Python."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from domain.catalogue import FieldSpec, catalogue
from domain.completeness.deadlines import due_date
from domain.completeness.rules import CLOSED, is_missing
from domain.models import Customer
from domain.workcal import WorkingCalendar


def ratio(filled: int, total: int) -> float:
    return 1.0 if total == 0 else filled / total


@dataclass(frozen=True)
class Completeness:
    national_filled: int
    national_total: int
    provincial_filled: int
    provincial_total: int
    missing: tuple[str, ...]  # field keys, in catalogue order
    due_on: dt.date | None
    overdue: bool

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def ratio(self) -> float:
        return ratio(
            self.national_filled + self.provincial_filled,
            self.national_total + self.provincial_total,
        )

    @property
    def national_ratio(self) -> float:
        return ratio(self.national_filled, self.national_total)

    @property
    def provincial_ratio(self) -> float:
        return ratio(self.provincial_filled, self.provincial_total)


def customer_completeness(
    customer: Customer,
    *,
    calendar: WorkingCalendar,
    today: dt.date,
    fields: Sequence[FieldSpec] | None = None,
) -> Completeness:
    specs = catalogue() if fields is None else fields
    missing = [s for s in specs if is_missing(customer, s, specs)]
    national_total = sum(s.national for s in specs)
    national_missing = sum(s.national for s in missing)
    due_on = due_date(customer.joined_on, calendar=calendar, today=today)
    overdue = (
        bool(missing)
        and customer.status != CLOSED
        and customer.joined_on is not None
        and (due_on is None or today > due_on)
    )
    return Completeness(
        national_filled=national_total - national_missing,
        national_total=national_total,
        provincial_filled=len(specs) - national_total - (len(missing) - national_missing),
        provincial_total=len(specs) - national_total,
        missing=tuple(s.key for s in missing),
        due_on=due_on,
        overdue=overdue,
    )
