"""Profile completeness (档案完整率): every catalogue field is required, unless the catalogue
makes it conditional (``required_when``, e.g. the pickup point only for 定点取货 shops).

National fields (``*``, 国家局) and provincial ones are counted apart. A new shop's record
must be complete within 5 working days of joining (一周内录入完整); closed shops (歇业) are
left out of the reports and are never overdue.

- ``rules``: what counts as filled and required, in Python and as SQL expressions;
- ``deadlines``: the due date and the overdue cut-off from the working-day calendar;
- ``record``: one customer's completeness (``customer_completeness``);
- ``reports``: the set-based reports (``completeness_by``, ``incomplete_customers``).
"""

from __future__ import annotations

from domain.completeness.deadlines import DUE_WORKING_DAYS, due_date, overdue_cutoff
from domain.completeness.record import Completeness, customer_completeness
from domain.completeness.reports import (
    NEW_SHOP_DAYS,
    CompletenessRow,
    FieldGapRow,
    GroupBy,
    IncompleteRow,
    completeness_by,
    incomplete_customers,
    shops_subquery,
)
from domain.completeness.rules import (
    BLANK_CHARS,
    CLOSED,
    is_missing,
    is_missing_value,
    missing_condition,
    missing_keys,
)

__all__ = [
    "BLANK_CHARS",
    "CLOSED",
    "DUE_WORKING_DAYS",
    "NEW_SHOP_DAYS",
    "Completeness",
    "CompletenessRow",
    "FieldGapRow",
    "GroupBy",
    "IncompleteRow",
    "completeness_by",
    "customer_completeness",
    "due_date",
    "incomplete_customers",
    "is_missing",
    "is_missing_value",
    "missing_condition",
    "missing_keys",
    "overdue_cutoff",
    "shops_subquery",
]
