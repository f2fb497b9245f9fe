"""The working calendar (/admin/calendar, 工作日历): where each year's working days come
from (entered here, the repository's file, the package, or nowhere: deadlines in that year
are refused), the entries on record, and for the information department (it_admin) the
form to enter a year's State Council schedule (``domain.workcal.store``). An entry is in
force in this process at once and in every other within seconds."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.web import config, db, field_errors, form, now, principal, render, view
from domain.errors import DomainError
from domain.workcal.store import enter_year, entered_years, may_edit, parse_year
from domain.workcal.stored import STORED

log = logging.getLogger("retailgis.admin")
SOURCE_ZH = {"admin": "本页录入", "file": "程序附带的补充文件", "package": "日历程序包",
             "none": "未覆盖"}  # fmt: skip


def _page(request: Request, *, status: int = 200, **ctx: Any) -> Response:
    who = principal(request)
    today = now(request).astimezone(config(request).calendar.tz).date()
    calendar = config(request).calendar
    rows = [(year, *calendar.source_of(year)) for year in range(today.year - 1, today.year + 2)]
    with db(request) as session:
        entries = entered_years(session)
    base: dict[str, Any] = {
        "coverage": rows, "entries": entries, "source_zh": SOURCE_ZH, "editor": may_edit(who),
        "errors": {}, "next_year": today.year + 1,
        "entered": {"year": str(today.year + 1), "source": "", "holidays": "", "workdays": "",
                    "complete": True, "note": ""},
    }  # fmt: skip
    return render(request, "calendar/index.html", {**base, **ctx}, status=status)


@view
def calendar_page(request: Request) -> Response:
    return _page(request)


@view
def enter(request: Request) -> Response:
    who = principal(request)
    data = form(request)
    entered = {
        "year": str(data.get("year") or "").strip(),
        "source": str(data.get("source") or ""),
        "holidays": str(data.get("holidays") or ""),
        "workdays": str(data.get("workdays") or ""),
        "complete": data.get("complete") == "1",
        "note": str(data.get("note") or ""),
    }
    if not may_edit(who):
        return _page(request, status=403, refused="只有信息科可以维护工作日历", entered=entered)
    try:
        entry = parse_year(
            entered["year"], entered["source"], entered["holidays"], entered["workdays"],
            bool(entered["complete"]),
        )  # fmt: skip
        with db(request) as session:
            enter_year(session, who, entry, note=entered["note"])
    except DomainError as err:  # nothing was written
        return _page(request, status=400, errors=field_errors(err), entered=entered)
    STORED.refresh(within=0)  # in force in this process now, in the others within seconds
    log.info("admin: working calendar %s entered by %s (%s; %d days off, %d working weekends)",
             entry.year, who.username, entry.source, len(entry.holidays),
             len(entry.workdays))  # fmt: skip
    saved = (
        f"已录入 {entry.year} 年节假日安排：放假 {len(entry.holidays)} 天，"
        f"调休上班 {len(entry.workdays)} 天。"
    )
    return _page(request, saved=saved)


ROUTES: list[BaseRoute] = [
    Route("/calendar", calendar_page, methods=["GET"]),
    Route("/calendar", enter, methods=["POST"]),
]
