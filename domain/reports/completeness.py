"""Profile completeness by customer manager and by county (档案完整率), as of the month's
last day (or today when earlier), from ``domain.completeness.completeness_by``."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from domain.completeness import CompletenessRow, completeness_by
from domain.reports.book import Sheet, next_month
from domain.tickets.engine import default_calendar

HEADER = ("{group}", "客户数", "完整", "不完整", "逾期未完善", "其中近30天入网",
          "国家局必填项完整率", "省局必填项完整率")  # fmt: skip


def as_of(month: dt.date, today: dt.date) -> dt.date:
    return min(next_month(month) - dt.timedelta(days=1), today)


def completeness_sheets(
    session: Session, month: dt.date, *, today: dt.date,
    scope: ColumnElement[bool] | None = None,
) -> list[Sheet]:  # fmt: skip
    day = as_of(month, today)
    sheets = []
    groups: tuple[tuple[Literal["manager", "county"], str, str], ...] = (
        ("manager", "按客户经理", "客户经理"),
        ("county", "按县区", "县区"),
    )
    for group, title, label in groups:
        rows: list[CompletenessRow] = completeness_by(
            session, group, today=day, calendar=default_calendar(), scope=scope
        )
        body = [
            (r.label or "（未指定）", r.shops, r.complete, r.incomplete, r.overdue, r.overdue_new,
             round(r.national_ratio, 4), round(r.provincial_ratio, 4))
            for r in rows
        ]  # fmt: skip
        header = (label, *HEADER[1:])
        sheets.append(Sheet(f"档案完整率{title}", header, body))
    return sheets
