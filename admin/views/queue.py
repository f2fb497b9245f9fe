"""Admin area: the approval queue (审批队列). The steps awaiting my role in my scope, with
filters (type, status, county, overdue, due today), counts, pages and the working-time
countdown, refreshed in place every minute; bulk approval of the tickets that are safe to
approve without opening them. One ticket's page and decisions: ``queue_ticket``."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.views import queue_ticket
from admin.web import PREFIX, config, db, form, is_htmx, now, principal, render, view
from domain.access import Principal, role_rights
from domain.models import OrgUnit, Ticket, TicketStep
from domain.tickets.approval import Outcome, bulk_approve
from domain.tickets.queue import queue, queue_type_counts, single_review_reason
from domain.tickets.types import ticket_types

PAGE = 20
STATUS_LABELS = {"open": "待审批", "applied": "已执行待复核"}
MAX_BULK = 200


@dataclass(frozen=True)
class Filters:
    type: str = ""
    status: str = ""
    region: int | None = None
    overdue: bool = False
    due_today: bool = False
    page: int = 1

    @classmethod
    def parse(cls, params: QueryParams | FormData) -> Filters:
        """The filters of a query string (or a form's hidden copy); unknown values ignored."""
        kind = str(params.get("type") or "")
        status = str(params.get("status") or "")
        region = str(params.get("region") or "")
        page = str(params.get("page") or "1")
        return cls(
            type=kind if kind in ticket_types() else "",
            status=status if status in STATUS_LABELS else "",
            region=int(region) if region.isdigit() else None,
            overdue=params.get("overdue") == "1",
            due_today=params.get("due") == "today",
            page=max(1, min(int(page), 10_000)) if page.isdigit() else 1,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        f = replace(self, **changes)
        out = {"type": f.type, "status": f.status, "region": str(f.region or ""),
               "overdue": "1" if f.overdue else "", "due": "today" if f.due_today else "",
               "page": str(f.page) if f.page > 1 else ""}  # fmt: skip
        return {k: v for k, v in out.items() if v}

    def query(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))


def _departments(session: Session, who: Principal) -> list[tuple[int, str]]:
    """The county departments to filter by (city-wide roles only; others see one county)."""
    if role_rights(who.role).scope != "city":
        return []
    rows = session.execute(
        select(OrgUnit.region_id, OrgUnit.name)
        .where(OrgUnit.kind == "county", OrgUnit.region_id.is_not(None))
        .order_by(OrgUnit.code)
    ).all()
    return [(int(r), name) for r, name in rows]


def list_context(session: Session, request: Request, f: Filters) -> dict[str, Any]:
    who, at, cal = principal(request), now(request), config(request).calendar
    common: dict[str, Any] = {"now": at, "calendar": cal}
    items, total = queue(
        session, who, type_key=f.type or None, status=f.status or None, region_id=f.region,
        overdue_only=f.overdue, due_today=f.due_today, limit=PAGE, offset=(f.page - 1) * PAGE,
        **common,
    )  # fmt: skip
    counts = {
        "all": queue(session, who, limit=0, **common)[1],
        "overdue": queue(session, who, overdue_only=True, limit=0, **common)[1],
        "today": queue(session, who, due_today=True, limit=0, **common)[1],
    }
    names = {k: t.name for k, t in ticket_types().items()}
    by_type = queue_type_counts(session, who, now=at)
    departments = _departments(session, who)
    return {
        "f": f, "items": items, "total": total, "counts": counts,
        "pages": max(1, math.ceil(total / PAGE)),
        "type_options": [(k, names[k], n) for k, n in sorted(by_type.items()) if k in names],
        "status_labels": STATUS_LABELS, "departments": departments,
        "region_names": dict(departments), "bulk_offered": any(not i.single_reason for i in items),
    }  # fmt: skip


def _partial(request: Request) -> bool:
    """An htmx request for the list only (a history restore wants the whole page)."""
    return is_htmx(request) and request.headers.get("hx-history-restore-request") != "true"


@view
def queue_page(request: Request) -> Response:
    f = Filters.parse(request.query_params)
    with db(request) as session:
        ctx = list_context(session, request, f)
    if not _partial(request):
        return render(request, "queue/list.html", ctx)
    headers = {}
    if request.headers.get("hx-trigger") == "queue-filters":  # the address without blanks
        headers["HX-Push-Url"] = f"{PREFIX}/queue" + (f"?{f.query()}" if f.query() else "")
    return render(request, "queue/list.html", ctx, block="results", headers=headers)


def _checked(session: Session, who: Principal, ids: list[int], request: Request) -> tuple[
    list[int], list[Outcome]
]:  # fmt: skip
    """The ids safe to approve in bulk, and refusals for the others (opened one by one)."""
    rows = session.execute(
        select(Ticket, TicketStep)
        .join(TicketStep, TicketStep.ticket_id == Ticket.id)
        .where(Ticket.id.in_(ids), TicketStep.status == "active")
    ).all()
    unsafe = {t.id: single_review_reason(t, s, now(request)) for t, s in rows}
    refused = [
        Outcome(i, False, None, "SINGLE_REVIEW", reason)
        for i, reason in sorted(unsafe.items())
        if reason is not None
    ]
    return [i for i in ids if unsafe.get(i) is None], refused


@view
def approve_selected(request: Request) -> Response:
    data = form(request)
    f = Filters.parse(data)
    ids = sorted({int(v) for v in data.getlist("ticket") if str(v).isdigit()})[:MAX_BULK]
    comment = str(data.get("comment") or "").strip() or None
    who, cfg = principal(request), config(request)
    outcomes: list[Outcome] = []
    if ids:
        with db(request) as session:
            safe, outcomes = _checked(session, who, ids, request)
            outcomes += bulk_approve(
                session, who, safe, vault=cfg.vault, now=now(request), comment=comment,
                calendar=cfg.calendar,
            )  # fmt: skip
            titles = dict(
                session.execute(select(Ticket.id, Ticket.title).where(Ticket.id.in_(ids))).all()
            )
    outcomes.sort(key=lambda o: o.ticket_id)
    done = sum(o.ok for o in outcomes)
    message = (
        f"已批量通过 {done} 张工单"
        + (f"，{len(outcomes) - done} 张未通过" if done < len(outcomes) else "")
        if outcomes
        else "请先勾选要批量通过的工单"
    )
    with db(request) as session:
        ctx = list_context(session, request, replace(f, page=1))
    ctx.update(message=message, message_ok=done > 0, outcomes=outcomes,
               titles=titles if ids else {})  # fmt: skip
    return render(request, "queue/list.html", ctx, block="results" if _partial(request) else None)


ROUTES: list[BaseRoute] = [
    Route("/queue", queue_page),
    Route("/queue/approve", approve_selected, methods=["POST"]),
    *queue_ticket.ROUTES,  # one ticket's page and decisions
]
