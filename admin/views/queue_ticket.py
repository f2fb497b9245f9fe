"""Admin area: one ticket of the approval queue (/queue/{id}) and its decisions.

The page shows the field diff (personal values masked by the domain), the steps with who
decided when and why, the time limit, and per type a map: a location change's old and new
point with the distance, a route change's or route plan's routes before and after with
their figures. Approve, reject and return are the domain's services, as the API calls
them; a refusal (a reason missing, a ticket decided meanwhile) changes nothing and is
shown beside the comment box or above the buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from admin.views.maps import route_map
from admin.views.planner import WEEKDAYS
from admin.views.queue_present import diff_rows, limit_text, location_map
from admin.web import config, db, field_errors, form, is_htmx, now, principal, render, view
from domain.errors import NOT_FOUND, DomainError
from domain.models import Ticket
from domain.models.org import ROLE_LABELS_ZH
from domain.tickets.approval import approve
from domain.tickets.decisions import reject_ticket, return_ticket
from domain.tickets.present import ticket_view
from domain.tickets.queue import queue
from domain.tickets.route_review import route_review

TICKET_STATUS = {
    "open": "办理中", "returned": "已退回制单人", "approved": "已审批", "applied": "已执行",
    "rejected": "已驳回", "withdrawn": "已撤回", "stale": "已失效（档案已更新）",
}  # fmt: skip
STEP_STATUS = {"waiting": "未开始", "active": "办理中", "done": "已完成", "skipped": "已跳过"}
DECISIONS = {"approve": "通过", "reject": "驳回", "return": "退回修改", "withdraw": "撤回"}
STALE_TEXT = (
    "客户档案在工单提交后已有更新，本工单已失效，变更未执行；已通知制单人按最新档案重新提交。"
)
MAX_DIFF_ROWS = 500
TEMPLATE = "queue/detail.html"


def ticket_context(session: Session, request: Request, ticket_id: int) -> dict[str, Any]:
    who, at, cfg = principal(request), now(request), config(request)
    t = ticket_view(session, who, ticket_id, now=at, calendar=cfg.calendar)
    day = request.query_params.get("day", "")
    review = route_review(session, t.type, t.id, int(day) if day.isdigit() else None)
    rows = diff_rows(session, t.changes[:MAX_DIFF_ROWS])
    _, waiting = queue(session, who, now=at, limit=0, calendar=cfg.calendar)
    return {
        "t": t, "diff": rows, "diff_more": max(0, len(t.changes) - MAX_DIFF_ROWS),
        "many_customers": len({c.customer_id for c in t.changes}) > 1,
        "location_map": location_map(t.location, cfg.basemap) if t.location else None,
        "review": review,
        "route_map": (
            route_map(review.lines_before, review.lines_after, cfg.basemap)
            if review and review.lines_after else None
        ),
        "weekdays": WEEKDAYS, "limit_text": limit_text, "roles": ROLE_LABELS_ZH,
        "ticket_status": TICKET_STATUS, "step_status": STEP_STATUS, "decisions": DECISIONS,
        "stale_text": STALE_TEXT,
        "waiting": waiting, "errors": {}, "comment": "",
    }  # fmt: skip


def _after_decision(request: Request, ctx: dict[str, Any]) -> Response:
    """The whole page, or for htmx the steps and the decision form (the target) with the
    head (status, time limit) swapped out of band; the maps stay as they are."""
    if not is_htmx(request):
        return render(request, TEMPLATE, ctx)
    tail = render(request, TEMPLATE, ctx, block="ticket_tail").body.decode()
    head = render(request, TEMPLATE, ctx, block="ticket_head").body.decode()
    oob = f'<div id="ticket-head" hx-swap-oob="innerHTML">{head}</div>'
    return HTMLResponse(tail + oob)


@view
def ticket_page(request: Request) -> Response:
    ticket_id = int(request.path_params["ticket_id"])
    try:
        with db(request) as session:
            ctx = ticket_context(session, request, ticket_id)
    except DomainError as err:
        if err.code != NOT_FOUND:
            raise
        return render(request, "queue/missing.html", {"message": err.message}, status=404)
    return render(request, TEMPLATE, ctx)


def _approved_text(ticket: Ticket) -> str:
    if ticket.status == "stale":
        return STALE_TEXT
    if ticket.status == "applied" and ticket.closed_at is not None:
        return "已通过，工单已办结，变更已执行并记入修改台帐。"
    if ticket.status == "applied":
        return "已通过，变更已执行并记入修改台帐，等待复核。"
    return "已通过，工单已转下一步办理。"


Action = Callable[[Session, Request, int, str | None], str]


def _approve(session: Session, request: Request, ticket_id: int, comment: str | None) -> str:
    cfg = config(request)
    ticket = approve(
        session, principal(request), ticket_id, vault=cfg.vault, now=now(request),
        comment=comment, calendar=cfg.calendar,
    )  # fmt: skip
    return _approved_text(ticket)


def _reject(session: Session, request: Request, ticket_id: int, comment: str | None) -> str:
    reject_ticket(session, principal(request), ticket_id, reason=comment or "", now=now(request))
    return "已驳回，已通知制单人。"


def _return(session: Session, request: Request, ticket_id: int, comment: str | None) -> str:
    return_ticket(session, principal(request), ticket_id, reason=comment or "", now=now(request))
    return "已退回制单人修改，已通知制单人。"


def _decide(action: Action) -> Callable[[Request], Any]:
    @view
    def endpoint(request: Request) -> Response:
        ticket_id = int(request.path_params["ticket_id"])
        comment = str(form(request).get("comment") or "").strip() or None
        message, errors = None, {}
        try:
            with db(request) as session:
                message = action(session, request, ticket_id, comment)
        except DomainError as err:  # rolled back: nothing changed
            errors = field_errors(err)
        try:
            with db(request) as session:
                ctx = ticket_context(session, request, ticket_id)
        except DomainError as err:
            return render(request, "queue/missing.html", {"message": err.message}, status=404)
        ctx.update(message=message, errors=errors, comment="" if message else comment or "")
        return _after_decision(request, ctx)

    endpoint.__name__ = action.__name__.lstrip("_")
    return endpoint


ROUTES: list[BaseRoute] = [
    Route("/queue/{ticket_id:int}", ticket_page),
    Route("/queue/{ticket_id:int}/approve", _decide(_approve), methods=["POST"]),
    Route("/queue/{ticket_id:int}/reject", _decide(_reject), methods=["POST"]),
    Route("/queue/{ticket_id:int}/return", _decide(_return), methods=["POST"]),
]
