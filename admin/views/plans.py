"""Route planning from the planner's map: start a day plan, a re-sequence of one route,
the quarterly re-plan of a depot's week or a manager's visit batches (background jobs run
by the worker), poll the job's progress (htmx every second, with a cancel button; the
plan's id goes into the page's address, so a reload resumes the polling), show
before/after from the stored plan with its routes drawn on the map, and submit it as a
ticket."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.views.plan_form import form_context, quarter_request
from admin.views.plan_present import map_context, plan_context, progress_context
from admin.views.tiles import filter_query, parse_filter
from admin.web import PREFIX, config, db, field_errors, form, now, principal, render, view
from domain import planning
from domain.errors import INVALID, DomainError
from domain.jobs import get_job, request_cancel
from domain.planning import mapview

TEMPLATE = "planner/plan.html"
QUARTERLY_FORM = "planner/quarterly.html"


def _seconds(raw: Any) -> float | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise DomainError(INVALID, "计算时限须为数字（秒）", "timeLimitSeconds") from None


def _errors(err: DomainError) -> list[str]:
    return [m for ms in field_errors(err).values() for m in ms]


def _request(data: Any) -> planning.PlanRequest:
    """The form as a PlanRequest, as the GraphQL planRoutes builds it (mode day or
    resequence; balance by stops within ±15 %)."""
    f = parse_filter(data)
    mode = str(data.get("mode") or "day")
    if mode not in ("day", "resequence"):
        raise DomainError(INVALID, "规划方式须为 day、resequence 或 quarterly", "mode")
    return planning.PlanRequest(
        mode=mode, depot_id=f.depot_id, weekday=f.weekday,  # type: ignore[arg-type]
        route_id=f.route_id if mode == "resequence" else None,
        time_limit_s=_seconds(data.get("time_limit")),
    )  # fmt: skip


def plan_box(
    request: Request, session: Session, plan_id: int, day: int | None = None
) -> dict[str, Any]:
    """The plan box of a plan the user may see: figures, progress, routes for the map."""
    who = principal(request)
    plan = planning.get_plan(session, who, plan_id)
    job = get_job(session, who, plan.job_id) if plan.job_id else None
    return {
        **plan_context(plan, job),
        **progress_context(session, plan, job, now(request)),
        **map_context(session, who, config(request).basemap, plan, day),
    }


def plan_fragment(request: Request, raw: str | None) -> str | None:
    """The plan box of ``?plan=ID`` for the planner's page (a reload resumes it)."""
    if not raw:
        return None
    try:
        if not raw.isdigit() or len(raw) > 18:
            raise DomainError(INVALID, "规划编号无效")
        with db(request) as session:
            ctx = plan_box(request, session, int(raw))
    except DomainError as err:
        ctx = {"errors": _errors(err)}
    return bytes(render(request, TEMPLATE, ctx).body).decode()


def page_url(data: Any, plan_id: int) -> str:
    """The planner's address showing this plan (with the filters it was started from)."""
    try:
        query = filter_query(parse_filter(data))
    except DomainError:
        query = ""
    return f"{PREFIX}/planner?" + (f"{query}&" if query else "") + f"plan={plan_id}"


def _render_plan(
    request: Request, plan_id: int, *, day: int | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> Response:  # fmt: skip
    with db(request) as session:
        ctx = plan_box(request, session, plan_id, day)
    return render(request, TEMPLATE, {**ctx, **extra}, headers=headers)


def _started(request: Request, start: Any) -> Response:
    try:
        with db(request) as session:
            plan_id = start(session).id
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})
    return _render_plan(request, plan_id, headers={"HX-Push-Url": page_url(form(request), plan_id)})


def _start_quarterly(request: Request, data: Any) -> Response:
    """A depot's whole week re-planned; bad input is shown beside the form's fields (the
    answer retargets the form) and nothing is queued."""
    who = principal(request)
    try:
        planning.may_plan(who)
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})
    depot_id = None
    try:
        with db(request) as session:
            depot_id = parse_filter(data).depot_id
            days = mapview.route_days(session, depot_id) if depot_id is not None else []
            req = quarter_request(data, depot_id, days)
            plan_id = planning.start_route_plan(session, who, req).id
    except DomainError as err:  # rolled back: no plan, no job
        with db(request) as session:
            ctx = form_context(session, depot_id, data, field_errors(err))
        headers = {"HX-Retarget": "#quarterly-form", "HX-Reswap": "outerHTML"}
        return render(request, QUARTERLY_FORM, ctx, headers=headers)
    return _render_plan(request, plan_id, headers={"HX-Push-Url": page_url(data, plan_id)})


@view
def start_plan(request: Request) -> Response:
    data = form(request)
    if str(data.get("mode") or "") == "quarterly":
        return _start_quarterly(request, data)
    try:
        req = _request(data)
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})
    return _started(request, lambda s: planning.start_route_plan(s, principal(request), req))


@view
def start_visits(request: Request) -> Response:
    data = form(request)
    manager, batches = str(data.get("manager") or ""), str(data.get("batches") or "5")
    if not manager.isdigit() or not batches.isdigit():
        return render(request, TEMPLATE, {"errors": ["请先在筛选中选择客户经理"]})
    return _started(
        request,
        lambda s: planning.start_visit_batches(s, principal(request), int(manager), int(batches)),
    )


def _day(raw: Any) -> int | None:
    """The delivery day whose routes a quarterly plan draws on the map (None: its first)."""
    text = str(raw or "")
    return int(text) if text.isdigit() and len(text) == 1 else None


@view
def show_plan(request: Request) -> Response:
    day = _day(request.query_params.get("day"))
    try:
        return _render_plan(request, int(request.path_params["plan_id"]), day=day)
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})


@view
def cancel(request: Request) -> Response:
    plan_id = int(request.path_params["plan_id"])
    message = None
    try:
        with db(request) as session:
            plan = planning.get_plan(session, principal(request), plan_id)
            if plan.job_id is None:
                raise DomainError(INVALID, "该规划没有后台任务", "id")
            request_cancel(session, principal(request), plan.job_id)
        message = "已请求取消，任务将在下一次进度报告时停止。"
    except DomainError as err:
        message = err.message
    try:
        return _render_plan(request, plan_id, message=message)
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})


@view
def submit(request: Request) -> Response:
    plan_id = int(request.path_params["plan_id"])
    reason = str(form(request).get("reason") or "").strip()[:500] or None
    day = _day(form(request).get("day"))
    cfg = config(request)
    try:
        with db(request) as session:
            ticket = planning.submit_plan(
                session, principal(request), plan_id, reason=reason, vault=cfg.vault,
                now=now(request),
            )  # fmt: skip
            ticket_id = ticket.id
    except DomainError as err:
        try:
            return _render_plan(request, plan_id, day=day, errors=_errors(err))
        except DomainError:
            return render(request, TEMPLATE, {"errors": _errors(err)})
    return _render_plan(request, plan_id, day=day, ticket_id=ticket_id)


ROUTES: list[BaseRoute] = [
    Route("/planner/plans", start_plan, methods=["POST"]),
    Route("/planner/visits", start_visits, methods=["POST"]),
    Route("/planner/plans/{plan_id:int}", show_plan),
    Route("/planner/plans/{plan_id:int}/cancel", cancel, methods=["POST"]),
    Route("/planner/plans/{plan_id:int}/submit", submit, methods=["POST"]),
]
