"""The home page of every role: my queue (to act on, due today, overdue), the
completeness of the shops in my scope, my duties and unread notifications."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.web import PREFIX, config, db, form, now, principal, redirect, render, view
from domain.access.scope import customer_scope
from domain.completeness.reports import completeness_by
from domain.errors import DomainError
from domain.tickets.inbox import inbox, mark_read

# How many managers' rows the home page shows (the worst first).
COMPLETENESS_ROWS = 12


@view
def home(request: Request) -> Response:
    cfg = config(request)
    who = principal(request)
    at = now(request)
    with db(request) as session:
        box = inbox(session, who, now=at, calendar=cfg.calendar)
        rows = completeness_by(
            session, "manager", today=at.astimezone(cfg.calendar.tz).date(),
            calendar=cfg.calendar, scope=customer_scope(who),
        )  # fmt: skip
    rows.sort(key=lambda r: (-r.overdue, -r.incomplete, r.label or ""))
    today = at.astimezone(cfg.calendar.tz).date()
    # from November on, next year's schedule is due: deadlines will soon run into it
    upcoming = today.year + 1
    missing = upcoming if today.month >= 11 and not cfg.calendar.covers_year(upcoming) else None
    totals = {
        "shops": sum(r.shops for r in rows),
        "complete": sum(r.complete for r in rows),
        "overdue": sum(r.overdue for r in rows),
    }
    return render(
        request, "home.html",
        {"inbox": box, "completeness": rows[:COMPLETENESS_ROWS], "totals": totals,
         "more_managers": max(0, len(rows) - COMPLETENESS_ROWS), "calendar_missing": missing},
    )  # fmt: skip


@view
def read_notifications(request: Request) -> Response:
    ids = [int(v) for v in form(request).getlist("notification") if str(v).isdigit()]
    try:
        with db(request) as session:
            mark_read(session, principal(request), ids, now=now(request))
    except DomainError:
        pass  # someone else's id: nothing was marked; the page shows the truth again
    return redirect(request, PREFIX + "/")


ROUTES: list[BaseRoute] = [
    Route("/", home),
    Route("/notifications/read", read_notifications, methods=["POST"]),
]
