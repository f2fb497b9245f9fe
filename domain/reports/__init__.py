"""Monthly reports as XLSX workbooks with Chinese sheet titles and headers:

- ``classification``: the county classification-adjustment table (due by the 3rd);
- ``completeness``: profile completeness by customer manager and by county;
- ``compliance``: time-limit compliance of ticket steps by department and ticket type;
- ``routes``: route balance per depot and weekday (stops, volume, distance, time).

With a principal, the customer-based reports keep to its scope (tickets: its ticket scope);
without one (the operator's command line) they cover the whole city.
"""

from __future__ import annotations

import datetime as dt
from typing import BinaryIO

from sqlalchemy.orm import Session

from domain.access import Principal, customer_scope
from domain.errors import INVALID, DomainError
from domain.planning.settings import PlanningSettings
from domain.reports.book import Sheet, parse_month, write_book
from domain.reports.classification import classification_changes, classification_sheets
from domain.reports.completeness import completeness_sheets
from domain.reports.compliance import compliance_rows, compliance_sheet
from domain.reports.routes import route_rows, route_sheets
from domain.tickets.scope import ticket_scope

REPORTS = {
    "classification": "分类调整表",
    "completeness": "档案完整率",
    "compliance": "工单时限执行情况",
    "routes": "线路均衡情况",
}


def report_sheets(
    session: Session, kind: str, month: dt.date, *, now: dt.datetime,
    principal: Principal | None = None, planning: PlanningSettings | None = None,
) -> list[Sheet]:  # fmt: skip
    """The sheets of a report of ``month`` (the 1st of a month)."""
    scope = customer_scope(principal) if principal is not None else None
    if kind == "classification":
        return classification_sheets(classification_changes(session, month, scope))
    if kind == "completeness":
        return completeness_sheets(session, month, today=now.date(), scope=scope)
    if kind == "compliance":
        tickets = ticket_scope(principal) if principal is not None else None
        return [compliance_sheet(compliance_rows(session, month, now=now, scope=tickets))]
    if kind == "routes":
        return route_sheets(route_rows(session, planning or PlanningSettings()))
    allowed = "、".join(REPORTS)
    raise DomainError(INVALID, f"未知的报表“{kind}”，可选：{allowed}", "report")


def write_report(
    session: Session, kind: str, month: dt.date, out: BinaryIO, *, now: dt.datetime,
    principal: Principal | None = None, planning: PlanningSettings | None = None,
) -> list[Sheet]:  # fmt: skip
    """Write the report workbook to ``out``; returns its sheets."""
    sheets = report_sheets(session, kind, month, now=now, principal=principal, planning=planning)
    write_book(out, sheets)
    return sheets


__all__ = ["REPORTS", "Sheet", "parse_month", "report_sheets", "write_report"]
